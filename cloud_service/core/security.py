"""Bearer tokens: vehicles' are random and stored only as hashes; the admin's comes from settings.

A token is 32 random bytes (URL-safe base64). The database keeps its SHA-256, so a leaked
database does not leak credentials, and lookups stay a single indexed equality (a slow
password hash buys nothing for 256-bit random secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    """A fresh vehicle token, shown once to the operator who creates the vehicle."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """What the database stores and looks tokens up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison, so response timing does not reveal a token's prefix."""
    return hmac.compare_digest(given.encode(), expected.encode())
