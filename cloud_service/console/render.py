"""Rendering console pages: the Jinja2 environment, its filters, and the headers every page
gets.

Pages are rendered on the server (autoescaped Jinja2) and load nothing but the service's own
``/ui/static`` files; the Content-Security-Policy says so to the browser too, so a page can
neither pull anything from elsewhere nor run an injected inline script.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates

from cloud_service.console.forms import CSRF_FIELD, codec
from cloud_service.console.session import ConsoleSession

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(ts: float | None) -> str:
    """Unix seconds as a UTC time people read ('2026-11-27 15:04:05 UTC')."""
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def size(count: int | None) -> str:
    """Bytes in SI units ('6.6 kB')."""
    if count is None:
        return "–"
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def percent(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f} %"


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(when=when, size=size, percent=percent)
templates.env.globals["csrf_field"] = CSRF_FIELD


def render(request: Request, name: str, session: ConsoleSession, status_code: int = 200,
           **context: Any) -> Response:
    """The page ``name`` for ``session``; its one-shot notice is shown now and dropped (the
    cookie is written again without it; the expiry stays as it was)."""
    response = templates.TemplateResponse(
        request, name, {"session": session, "notice": session.notice, **context},
        status_code=status_code, headers=SECURITY_HEADERS)
    codec(request).store(response, request, session.with_notice(None))
    return response
