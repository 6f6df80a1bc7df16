"""Bearer tokens: vehicles' are random and stored only as hashes; the admin's comes from settings.

A token is 32 random bytes (URL-safe base64). The database keeps its SHA-256, so a leaked
database does not leak credentials, and lookups stay a single indexed equality (a slow
password hash buys nothing for 256-bit random secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

TOKEN_BYTES = 32
TOKEN_CACHE_S = 1.0
"""How long a process trusts a token it looked up. Its own rotations and revocations take effect
at once (:meth:`TokenCache.forget`); changes made elsewhere (the CLI, another replica, the
database by hand) within this long. One indexed lookup per vehicle per second is negligible next
to the uploads it serves."""


def new_token() -> str:
    """A fresh vehicle token, shown once to the operator who creates the vehicle."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """What the database stores and looks tokens up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison, so response timing does not reveal a token's prefix."""
    return hmac.compare_digest(given.encode(), expected.encode())


class TokenCache:
    """Vehicle names by token hash, remembered for :data:`TOKEN_CACHE_S` seconds.

    Every upload authenticates; remembering known tokens spares each one a database round trip
    and a thread hop. Only successful lookups are kept, so a new vehicle works at once.
    """

    def __init__(self, ttl: float = TOKEN_CACHE_S) -> None:
        self.ttl = ttl
        self._names: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> str | None:
        with self._lock:
            entry = self._names.get(token_hash)
            if entry is not None and entry[1] < time.monotonic():
                del self._names[token_hash]  # expired: looked up again, and never piles up
                entry = None
        return None if entry is None else entry[0]

    def put(self, token_hash: str, name: str) -> None:
        with self._lock:
            self._names[token_hash] = (name, time.monotonic() + self.ttl)

    def forget(self, name: str) -> None:
        """Drop every token of vehicle ``name``: its rotation or revocation holds from now on."""
        with self._lock:
            for token_hash in [key for key, (owner, _) in self._names.items() if owner == name]:
                del self._names[token_hash]
