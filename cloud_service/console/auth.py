"""Signing in and out of the console, and the dependency that keeps everyone else out.

Only the admin token signs in: the console acts on every vehicle's frames and on the model
registry, which a vehicle's token may not. A wrong token, a vehicle's among them, gets the same
answer, so the form tells nobody which tokens exist.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse

from cloud_service.api.deps import RuntimeDep
from cloud_service.console.forms import PostedForm, codec, posted_form
from cloud_service.console.render import render
from cloud_service.console.session import ConsoleSession
from cloud_service.core.security import same_token

HOME = "/ui"
LOGIN = "/ui/login"
router = APIRouter(prefix="/ui")


class SignInRequired(Exception):
    """Raised by :func:`operator_session`; answered by :func:`sign_in_required`."""


async def operator_session(request: Request) -> ConsoleSession:
    """The signed-in operator's session; otherwise :class:`SignInRequired`."""
    session = codec(request).load(request)
    if session is None or not session.operator:
        raise SignInRequired
    return session


async def operator_form(form: Annotated[PostedForm, Depends(posted_form)]) -> PostedForm:
    """A CSRF-checked form from a signed-in operator."""
    if not form.session.operator:
        raise SignInRequired
    return form


OperatorDep = Annotated[ConsoleSession, Depends(operator_session)]
OperatorFormDep = Annotated[PostedForm, Depends(operator_form)]


async def sign_in_required(request: Request, _: Exception) -> Response:
    """A page a browser navigates to sends it to the sign-in form (and back afterwards);
    anything else (an image, a script's poll, a form post) gets a plain 401."""
    if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{LOGIN}?next={quote(target)}", status.HTTP_303_SEE_OTHER)
    return JSONResponse({"detail": "sign in to the console first"},
                        status.HTTP_401_UNAUTHORIZED)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only, never another site."""
    if target and target.startswith(HOME) and not target.startswith("//") \
            and "\\" not in target:
        return target
    return HOME


@router.get("/login", include_in_schema=False)
def login_page(request: Request, runtime: RuntimeDep, next: str | None = None) -> Response:
    session = codec(request).load(request)
    if session is not None and session.operator:
        return RedirectResponse(safe_next(next), status.HTTP_303_SEE_OTHER)
    return render(request, "login.html", session or codec(request).anonymous(),
                  next=safe_next(next), enabled=runtime.settings.admin_token is not None)


@router.post("/login", include_in_schema=False)
def login(request: Request, runtime: RuntimeDep,
          form: Annotated[PostedForm, Depends(posted_form)]) -> Response:
    admin = runtime.settings.admin_token
    token = form.fields.get("token", "").strip()
    target = safe_next(form.fields.get("next"))
    if admin is None or not same_token(token, admin.get_secret_value()):
        return render(request, "login.html", form.session, status.HTTP_401_UNAUTHORIZED,
                      next=target, enabled=admin is not None,
                      error="That token does not sign in here. Use the admin token.")
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    codec(request).store(response, request, codec(request).signed_in())
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, _: Annotated[PostedForm, Depends(posted_form)]) -> Response:
    """Forget the session in this browser (the form's CSRF check keeps other sites from
    signing an operator out)."""
    response = RedirectResponse(LOGIN, status.HTTP_303_SEE_OTHER)
    codec(request).clear(response)
    return response
