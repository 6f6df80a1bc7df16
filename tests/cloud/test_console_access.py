"""Console access over plain HTTP (no browser needed): who gets in, what the session cookie is,
CSRF refusals, and pages that name nothing off the server. The browser tests
(test_console.py) walk the same paths in Chromium."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import httpx
import pytest
from fastapi import Request, Response

from cloud_service.console.session import COOKIE, SessionCodec
from cloud_service.core.config import Settings
from tests.cloud.servers import ADMIN_TOKEN, LiveServer

HTML = {"accept": "text/html"}
EXTERNAL = re.compile(r"""(?:src|href)=["']?(?:https?:)?//""")


def nonce(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


@pytest.fixture
def browser(server: LiveServer) -> httpx.Client:
    """An httpx client that keeps cookies and asks for HTML, as a browser does."""
    with httpx.Client(base_url=server.url, headers=HTML, timeout=30) as client:
        yield client


def sign_in(client: httpx.Client, token: str = ADMIN_TOKEN) -> httpx.Response:
    form = client.get("/ui/login")
    return client.post("/ui/login", data={"csrf": nonce(form), "token": token, "next": "/ui"})


def test_pages_send_strangers_to_sign_in(browser: httpx.Client) -> None:
    page = browser.get("/ui/frames?vehicle=car-1")
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/login?next=/ui/frames%3Fvehicle%3Dcar-1"
    assert browser.get("/ui/frames/1/image.png", headers={"accept": "image/*"}).status_code == 401
    assert browser.get("/ui/jobs/1", headers={"accept": "application/json"}).status_code == 401


def test_only_the_admin_token_signs_in(server: LiveServer, browser: httpx.Client) -> None:
    refused = sign_in(browser, server.tokens["car-1"])
    assert refused.status_code == 401 and "does not sign in" in refused.text
    assert browser.get("/ui").status_code == 303
    signed = sign_in(browser)
    assert signed.status_code == 303 and signed.headers["location"] == "/ui"
    cookie = signed.headers["set-cookie"].lower()
    assert all(part in cookie for part in ("httponly", "samesite=strict", "path=/ui", "max-age"))
    assert browser.get("/ui").status_code == 200
    out = browser.post("/ui/logout", data={"csrf": nonce(browser.get("/ui"))})
    assert out.status_code == 303 and browser.get("/ui").status_code == 303


def test_a_forged_or_altered_cookie_is_not_a_session(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, headers=HTML) as client:
        sign_in(client)
        genuine = client.cookies[COOKIE]
    payload, signature = genuine.rsplit(".", 1)
    for cookie in (f"{payload}.{signature[:-2]}xx", '{"csrf": "x", "operator": true}'):
        with httpx.Client(base_url=server.url, headers=HTML,
                          cookies={COOKIE: cookie}) as forger:
            assert forger.get("/ui").status_code == 303


def test_state_changing_forms_need_the_csrf_token(browser: httpx.Client) -> None:
    sign_in(browser)
    token = nonce(browser.get("/ui/models"))
    for action in ("/ui/models/rollback", "/ui/jobs", "/ui/jobs/1/cancel",
                   "/ui/models/1/promote", "/ui/logout"):
        assert browser.post(action, data={}).status_code == 403, action
        assert browser.post(action, data={"csrf": token[:-1]}).status_code == 403, action
    assert browser.post("/ui/models/rollback", data={"csrf": token},
                        headers={"origin": "http://elsewhere.example"}).status_code == 403
    done = browser.post("/ui/models/rollback", data={"csrf": token})
    assert done.status_code == 303 and done.headers["location"] == "/ui/models"


def test_pages_name_nothing_off_the_server(browser: httpx.Client) -> None:
    for path in ("/", "/docs", "/redoc", "/ui/login"):
        page = browser.get(path)
        assert page.status_code == 200 and not EXTERNAL.search(page.text), path
    assert "/ui" in browser.get("/").text
    sign_in(browser)
    for path in ("/ui", "/ui/frames", "/ui/models"):
        page = browser.get(path)
        assert page.status_code == 200 and not EXTERNAL.search(page.text), path
        assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css",
                  "redoc/redoc.standalone.js"):
        assert browser.get(f"/ui/static/vendor/{asset}").status_code == 200


def request_with(cookies: dict[str, str]) -> Request:
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return Request({"type": "http", "method": "GET", "path": "/ui", "scheme": "http",
                    "server": ("127.0.0.1", 80), "headers": [(b"cookie", header.encode())]})


def cookie_of(codec: SessionCodec, session) -> dict[str, str]:
    response = Response()
    codec.store(response, request_with({}), session)
    value = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    return {COOKIE: value.strip('"')}


def test_sessions_end_with_their_lifetime_and_with_a_new_key_or_admin_token(tmp_path) -> None:
    def codec(secret: str | None, admin: str = ADMIN_TOKEN) -> SessionCodec:
        return SessionCodec(Settings(data_dir=tmp_path, admin_token=admin,
                                     console_secret=secret, console_session_s=60))

    issuer = codec("shared-secret")
    session = issuer.signed_in()
    assert 59 <= session.expires - time.time() <= 60
    cookies = cookie_of(issuer, session)
    assert codec("shared-secret").load(request_with(cookies)) == session  # another replica
    assert codec("other-secret").load(request_with(cookies)) is None
    assert codec("shared-secret", "rotated-admin-token").load(request_with(cookies)) is None
    assert codec(None).load(request_with(cookies)) is None  # random per process
    expired = cookie_of(issuer, replace(session, expires=time.time() - 1))
    assert issuer.load(request_with(expired)) is None
