"""The HTTP server a deployment runs: uvicorn, with the limits that keep slow clients cheap.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers 503 past a number
of open connections and requests (``limit_concurrency``), but it has no deadline for a request to
arrive: a client that connects and sends nothing, half a request line, headers without their
body, or one byte a second holds its socket forever (slowloris). :class:`DeadlineProtocol` adds
that deadline at the protocol level, where the bytes arrive: from the moment a connection opens,
or a response has been sent on it, the next request (headers and body) must arrive whole within
``LATENTLINK_REQUEST_TIMEOUT_S``, else the connection is closed, with ``408`` if no request had
started to be served. Its request line and headers are capped too (:data:`MAX_HEADER_BYTES`), so
that a fast client cannot fill memory within the deadline either. Each closed connection is one
log line, without a traceback: it is the client's fault, not the server's (a request cut off
mid-body is logged by the app, which sees the disconnect: see ``main``).
"""

from __future__ import annotations

import asyncio
import copy

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cloud_service.core.config import Settings

MAX_HEADER_BYTES = 64 * 1024
"""Request line plus headers; real requests carry under 1 KiB."""
GRACEFUL_SHUTDOWN_S = 10
TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    b"content-length: 38\r\nconnection: close\r\n\r\n"
                    b"request not received whole in the time")


class HeaderTooLarge(Exception):
    """Raised inside the parser's callback: httptools reports it as an invalid request, and
    uvicorn answers 400 and closes the connection."""


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline for each request to arrive whole."""

    request_timeout_s: float = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._header_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        self._disarm()  # the request is in; the app's time to answer is not the client's fault
        super().on_message_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._arm()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise HeaderTooLarge(f"request line and headers exceed {MAX_HEADER_BYTES} bytes")

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # no request being served yet
            peer = "{}:{}".format(*self.client) if self.client else "a client"
            self.logger.info("closing the connection from %s: no whole request within %gs",
                             peer, self.request_timeout_s)
            self.transport.write(TIMEOUT_RESPONSE)
        # else the app, waiting for the body, sees the disconnect and logs it (one line)
        self.transport.close()


def protocol_for(settings: Settings) -> type[DeadlineProtocol]:
    """The protocol class with ``settings``' deadline (uvicorn instantiates it per connection)."""
    return type("DeadlineProtocol", (DeadlineProtocol,),
                {"request_timeout_s": settings.request_timeout_s})


def uvicorn_config(app: FastAPI, settings: Settings, *, host: str, port: int,
                   log_level: str = "info") -> uvicorn.Config:
    """How ``cloud-service serve`` (and the tests' servers) run ``app``: one process, the request
    deadline, idle keep-alive connections closed, a cap on connections and requests at once."""
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["cloud_service"] = {"handlers": ["default"], "propagate": False,
                                              "level": log_level.upper()}
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, log_config=log_config,
                          http=protocol_for(settings),
                          timeout_keep_alive=settings.keep_alive_s,  # type: ignore[arg-type]
                          limit_concurrency=settings.max_connections,
                          timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
