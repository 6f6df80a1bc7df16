"""Slow and broken clients over real sockets: each is closed within the documented time, the cap
on connections answers 503, and the server's log has one line per fault and no traceback.

One ``cloud-service serve`` subprocess (its log is the thing under test) with a short request
deadline; every hostile connection runs at once, so the whole test takes about one deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.cloud.servers import ADMIN_TOKEN, add_vehicle, server_process

REQUEST_TIMEOUT_S = 2.0
KEEP_ALIVE_S = 1.0
MAX_CONNECTIONS = 12
SLACK_S = 2.0


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def _seconds_until_closed(url: str, behave: Callable[[socket.socket], None]) -> float:
    """Open a connection, let ``behave`` talk on it, and time how long until the server closes
    it (reads everything it answers); fails past the deadline plus slack."""
    limit = REQUEST_TIMEOUT_S + SLACK_S + 5
    started = time.monotonic()
    with socket.create_connection(_address(url), timeout=limit) as sock:
        behave(sock)
        sock.settimeout(max(0.1, limit - (time.monotonic() - started)))
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
    return time.monotonic() - started


def silent(sock: socket.socket) -> None:
    """Connects and sends nothing."""


def half_request_line(sock: socket.socket) -> None:
    sock.sendall(b"GET /heal")


def headers_without_body(token: str) -> Callable[[socket.socket], None]:
    """A vehicle's upload whose headers arrive and whose body never does."""
    def headers_without_body(sock: socket.socket) -> None:
        sock.sendall(b"POST /frames HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-msgpack"
                     b"\r\nauthorization: Bearer " + token.encode() +
                     b"\r\ncontent-length: 1000\r\n\r\n")
    return headers_without_body


def trickle(sock: socket.socket) -> None:
    """One byte a second of a request that would take a minute to send, until the server
    answers or closes (waiting for that is the pause between bytes)."""
    sock.settimeout(1.0)
    for byte in b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-padding: aaaaaa\r\n\r\n":
        try:
            sock.sendall(bytes([byte]))
            if not sock.recv(4096):
                return
            return  # an answer: the connection is closing
        except TimeoutError:
            continue
        except OSError:
            return


def garbage(sock: socket.socket) -> None:
    """Not HTTP: answered 400 at once."""
    sock.sendall(b"\x00\x01\x02 hello\r\n\r\n")


def huge_headers(sock: socket.socket) -> None:
    """A header of 100 kB, past the cap on request line and headers: 400 at once."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nx-big: " + b"a" * 100_000 + b"\r\n\r\n")


def idle_keep_alive(sock: socket.socket) -> None:
    """A whole request, its answer read, then nothing: closed after the keep-alive time."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")


def test_slow_clients_are_closed_in_time_and_logged_without_tracebacks(tmp_path: Path,
                                                                       codec) -> None:
    env = {"LATENTLINK_CODEC_WEIGHTS": str(codec[1]), "LATENTLINK_ADMIN_TOKEN": ADMIN_TOKEN,
           "LATENTLINK_DEVICE": "cpu", "LATENTLINK_SEGMENTER_WEIGHTS": "untrained",
           "LATENTLINK_SEGMENTATION": "false",
           "LATENTLINK_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
           "LATENTLINK_KEEP_ALIVE_S": str(KEEP_ALIVE_S),
           "LATENTLINK_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}
    token = add_vehicle(tmp_path, "car-1", env)
    behaviours = [silent, half_request_line, headers_without_body(token), trickle,
                  idle_keep_alive, garbage, huge_headers]
    with server_process(tmp_path, env, log_level="info") as (_, url):
        took: dict[str, float] = {}

        def run(behave: Callable[[socket.socket], None]) -> None:
            took[behave.__name__] = _seconds_until_closed(url, behave)

        threads = [threading.Thread(target=run, args=(behave,)) for behave in behaviours]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        # The cap: with MAX_CONNECTIONS connections open, one more request is answered 503.
        hogs = [socket.create_connection(_address(url)) for _ in range(MAX_CONNECTIONS)]
        try:
            time.sleep(0.2)
            refused = httpx.get(f"{url}/healthz", timeout=10)
        finally:
            for hog in hogs:
                hog.close()
        time.sleep(0.5)
        served = httpx.get(f"{url}/healthz", timeout=10)

    assert set(took) == {behave.__name__ for behave in behaviours}
    for name, seconds in took.items():
        limit = {"idle_keep_alive": KEEP_ALIVE_S, "garbage": 0.0,
                 "huge_headers": 0.0}.get(name, REQUEST_TIMEOUT_S)
        assert seconds <= limit + SLACK_S, f"{name} stayed open {seconds:.1f}s"
    assert took["trickle"] >= REQUEST_TIMEOUT_S - 0.5, "the trickle was cut before its deadline"
    assert refused.status_code == 503
    assert served.status_code == 200

    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    # one line for each fault: three timed out before their request was served, one mid-body,
    # two malformed
    assert log.count("no whole request within") == 3, log[-3000:]
    assert log.count("the client disconnected before its request arrived whole") == 1
    assert log.count("Invalid HTTP request received") == 2
