"""The service's front door (``GET /``) and its API documentation, served without a CDN.

FastAPI's ``/docs`` and ``/redoc`` pages load Swagger UI, ReDoc, a favicon and Google fonts from
the internet, so on a closed network they stay blank. These are the same pages (FastAPI's own
HTML) pointed at copies under ``/ui/static/vendor`` (see its README for versions and licences).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

from cloud_service.console.render import templates

router = APIRouter(include_in_schema=False)
VENDOR = "/ui/static/vendor"
FAVICON = "/ui/static/favicon.svg"
DOCS_POLICY = ("default-src 'self'; img-src 'self' data:; font-src 'self' data:; "
               "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
               "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'")
"""Both pages run FastAPI's inline start-up script and inject styles, hence 'unsafe-inline';
the rest keeps the browser from fetching anything elsewhere, such as the Redocly logo that
ReDoc's sidebar loads from cdn.redoc.ly (the page hides it when it does not load)."""


@router.get("/")
def front_door(request: Request) -> Response:
    """Where a person who opens the server's address lands: the console, the API docs."""
    return templates.TemplateResponse(request, "index.html", {"title": request.app.title})


@router.get("/docs")
def swagger_ui(request: Request) -> Response:
    return _confined(get_swagger_ui_html(
        openapi_url=request.app.openapi_url, title=f"{request.app.title} – Swagger UI",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css", swagger_favicon_url=FAVICON,
        # Swagger UI would otherwise send the document to validator.swagger.io for a badge.
        swagger_ui_parameters={"validatorUrl": None}))


@router.get("/redoc")
def redoc(request: Request) -> Response:
    return _confined(get_redoc_html(openapi_url=request.app.openapi_url,
                                    title=f"{request.app.title} – ReDoc",
                                    redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
                                    redoc_favicon_url=FAVICON, with_google_fonts=False))


def _confined(page: Response) -> Response:
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page
