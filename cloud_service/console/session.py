"""The console's session: one signed, HttpOnly, SameSite=Strict cookie, nothing on the server.

The cookie carries a CSRF nonce, whether its holder signed in with the admin token, an absolute
expiry, and at most one notice for the next page ("job 4 queued"). It is signed (HMAC-SHA256,
itsdangerous), not encrypted: it holds nothing secret. Keeping the state in the cookie keeps the
service stateless, so any replica with the same key serves any operator.

The signing key is derived from ``LATENTLINK_CONSOLE_SECRET`` (a random key per process when
unset) *and* the admin token, so rotating either ends every session at once. A signed-in
cookie is a bearer credential until it expires; signing out forgets it in this browser.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import asdict, dataclass, replace

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer

from cloud_service.core.config import Settings

COOKIE = "latentlink_console"
COOKIE_PATH = "/ui"
"""The cookie goes with console requests only, never with API calls."""
ANONYMOUS_S = 3600
"""How long the sign-in form's nonce lasts before the form must be loaded again."""


@dataclass(frozen=True)
class ConsoleSession:
    """What the cookie says; ``operator`` is True once the admin token signed in."""

    csrf: str
    expires: float
    operator: bool = False
    notice: str | None = None

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires

    def with_notice(self, notice: str | None) -> ConsoleSession:
        return replace(self, notice=notice)


class SessionCodec:
    """Reads and writes the session cookie for one app (one key, one lifetime)."""

    def __init__(self, settings: Settings) -> None:
        secret = (settings.console_secret.get_secret_value() if settings.console_secret
                  else secrets.token_urlsafe(32))
        admin = settings.admin_token.get_secret_value() if settings.admin_token else ""
        key = hmac.new(secret.encode(), admin.encode(), hashlib.sha256).digest()
        self._serializer = URLSafeSerializer(key, salt="latentlink-console",
                                             signer_kwargs={"digest_method": hashlib.sha256})
        self.lifetime = settings.console_session_s

    def anonymous(self) -> ConsoleSession:
        """A fresh session for the sign-in form: a nonce, nobody signed in."""
        return ConsoleSession(csrf=secrets.token_urlsafe(32), expires=time.time() + ANONYMOUS_S)

    def signed_in(self) -> ConsoleSession:
        """A new session for an operator; a new nonce too, so nothing from before sign-in
        (a planted cookie, say) carries over."""
        return ConsoleSession(csrf=secrets.token_urlsafe(32), expires=time.time() + self.lifetime,
                              operator=True)

    def load(self, request: Request) -> ConsoleSession | None:
        """The request's session; None when it has none, or a forged or expired one."""
        raw = request.cookies.get(COOKIE)
        if raw is None:
            return None
        try:
            session = ConsoleSession(**self._serializer.loads(raw))
        except (BadSignature, TypeError):
            return None
        return None if session.expired else session

    def store(self, response: Response, request: Request, session: ConsoleSession) -> None:
        """Set the cookie; it lives exactly as long as the session (Secure over HTTPS)."""
        response.set_cookie(COOKIE, self._serializer.dumps(asdict(session)),
                            max_age=max(1, int(session.expires - time.time())),
                            path=COOKIE_PATH, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
