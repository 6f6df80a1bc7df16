"""Posted console forms: read under a small cap, and refused (403) without the session's CSRF
nonce or from another origin.

Forms are plain ``application/x-www-form-urlencoded`` text fields, parsed with the standard
library: the console uploads no files, so it needs no multipart parser (and no dependency).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from fastapi import HTTPException, Request, status

from cloud_service.api.body import read_capped_body
from cloud_service.console.session import ConsoleSession, SessionCodec
from cloud_service.ingest import IngestError

FORM = "application/x-www-form-urlencoded"
MOMENT_FORMAT = "%Y-%m-%dT%H:%M"
"""What a ``datetime-local`` field shows (UTC on every console page)."""
MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 50
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class PostedForm:
    """A form that passed the CSRF check, and the session it was checked against."""

    session: ConsoleSession
    fields: dict[str, str]


def codec(request: Request) -> SessionCodec:
    return request.app.state.console_sessions


async def posted_form(request: Request) -> PostedForm:
    """The form's fields, once its CSRF nonce matches the session's (403 otherwise).

    Three checks, each enough against a cross-site post on its own: the SameSite=Strict cookie
    is not sent with one; its nonce is in the session cookie only, which another site cannot
    read; and a browser's ``Origin`` header, when present, must name this server's host (the
    scheme is not compared: behind a TLS-terminating proxy the server sees plain HTTP).
    """
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin form refused")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not a console form: no CSRF token")
    try:
        body = await read_capped_body(request, MAX_FORM_BYTES, FORM, "a form")
    except IngestError as error:
        raise HTTPException(error.status, error.detail) from error
    try:
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True,
                                max_num_fields=MAX_FIELDS))
    except (UnicodeDecodeError, ValueError) as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "malformed form") from error
    session = codec(request).load(request)
    given = fields.pop(CSRF_FIELD, "")
    if session is None or not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "missing or stale CSRF token: reload the page and try again")
    return PostedForm(session, fields)


def moment(text: str) -> float | None:
    """A form's date-time (ISO 8601; without a zone, UTC, as the API reads it) → Unix seconds;
    blank is None. ``ValueError`` for anything else."""
    if not text.strip():
        return None
    given = datetime.fromisoformat(text.strip())
    return (given if given.tzinfo else given.replace(tzinfo=UTC)).timestamp()


def moment_field(ts: float) -> str:
    """Unix seconds as a ``datetime-local`` field's value (UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime(MOMENT_FORMAT)
