"""The operator console: server-rendered pages at ``/ui`` over the same runtime as the API.

Fleet, Frames, Frame, and Models and jobs, for operators signed in with the admin token (a
signed session cookie, :mod:`.session`; CSRF-checked forms, :mod:`.forms`). Every script,
style and image is served from ``static/``, Swagger UI and ReDoc included (:mod:`.docs`), so
the console works on a network cut off from the internet.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from cloud_service.console import actions, auth, docs, pages
from cloud_service.console.render import STATIC_DIR
from cloud_service.console.session import SessionCodec
from cloud_service.core.config import Settings


def mount(app: FastAPI, settings: Settings) -> None:
    """Add the console, its static files, ``/``, ``/docs`` and ``/redoc`` to ``app`` (made with
    ``docs_url=None, redoc_url=None``)."""
    app.state.console_sessions = SessionCodec(settings)
    app.add_exception_handler(auth.SignInRequired, auth.sign_in_required)
    for router in (docs.router, auth.router, pages.router, actions.router):
        app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="console-static")
