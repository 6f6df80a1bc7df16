"""Every class of malformed upload or request gets a 4xx with a reason, never a 500."""

from __future__ import annotations

import socket
import zlib
from collections.abc import Callable
from urllib.parse import urlparse

import msgpack
import pytest

from tests.cloud.hostile_containers import HOSTILE
from tests.cloud.servers import BODY_LIMIT, LATENT_LIMIT, MSGPACK, LiveServer


def fields(body: bytes) -> dict:
    return msgpack.unpackb(body, raw=False)


def repack(body: bytes, change: Callable[[dict], None], fix_crc: bool = True) -> bytes:
    """The container with ``change`` applied to its map (CRC recomputed unless told not to)."""
    values = fields(body)
    change(values)
    if fix_crc and isinstance(values.get("huff"), bytes):
        values["crc"] = zlib.crc32(values["huff"])
    return msgpack.packb(values, use_bin_type=True)


def flip_payload_bit(values: dict) -> None:
    payload = bytearray(values["huff"])
    payload[len(payload) // 2] ^= 0x10
    values["huff"] = bytes(payload)


def set_meta(values: dict, **changes: object) -> None:
    values["meta"] = {**values["meta"], **changes}


MALFORMED: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    # case: (how to break a good container, a phrase the reason must contain)
    "empty body": (lambda body: b"", "empty"),
    "not msgpack": (lambda body: b"\xc1\xc1 definitely not a container", "msgpack"),
    "msgpack but not a map": (lambda body: msgpack.packb([1, 2, 3]), "map"),
    "truncated": (lambda body: body[: len(body) // 2], "msgpack"),
    "missing payload": (lambda body: repack(body, lambda v: v.pop("huff")), "huff"),
    "missing header field": (lambda body: repack(body, lambda v: v.pop("lo")), "lo"),
    "wrong field type": (lambda body: repack(body, lambda v: v.update(shape="16x16x24")),
                         "shape"),
    "unknown field": (lambda body: repack(body, lambda v: v.update(extra=1)), "extra"),
    "future schema version": (lambda body: repack(body, lambda v: v.update(v=2)),
                              "schema version"),
    "shape disagrees with size": (
        lambda body: repack(body, lambda v: v.update(shape=[16, 9, 9])), "does not match"),
    "NaN latent range": (lambda body: repack(body, lambda v: v.update(lo=float("nan"))), "lo"),
    "min above max": (lambda body: repack(body, lambda v: v.update(lo=2.0, hi=1.0)), "exceeds"),
    "frame side over the limit": (lambda body: repack(
        body, lambda v: v.update(size=[9000, 8], shape=[16, 2250, 2])), "limit"),
    "declared latent over the limit": (lambda body: repack(
        body, lambda v: v.update(size=[1200, 1200], shape=[16, 300, 300])), "limit"),
    "16-bit latent over the limit": (lambda body: repack(
        body, lambda v: v.update(n=16, size=[800, 800], shape=[16, 200, 200])), "limit"),
    "CRC mismatch": (lambda body: repack(body, flip_payload_bit, fix_crc=False), "CRC"),
    "unknown Huffman table mode": (lambda body: repack(
        body, lambda v: v.update(huff=bytes([0xF7]) + v["huff"][1:])), "Huffman"),
    "bytes after the Huffman payload": (lambda body: repack(
        body, lambda v: v.update(huff=v["huff"] + b"\0\0")), "Huffman"),
    "payload cut short": (lambda body: repack(body, lambda v: v.update(huff=v["huff"][:8])),
                          "Huffman"),
    "bad vehicle name": (lambda body: repack(body, lambda v: set_meta(v, vehicle="car 1/../x")),
                         "vehicle"),
    "negative timestamp": (lambda body: repack(body, lambda v: set_meta(v, ts=-5.0)), "ts"),
}


@pytest.fixture(scope="module")
def good(make_container) -> bytes:
    return make_container("car-1", "malformed-base", seed=11)


REFUSED = MALFORMED | HOSTILE


@pytest.fixture(scope="module")
def stored(server: LiveServer, good: bytes) -> int:
    """The id of the unbroken container, uploaded (so reads of a real frame can be tried)."""
    with server.client(server.tokens["car-1"]) as car:
        response = car.post("/frames", content=good, headers=MSGPACK)
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_malformed_container_is_400(server: LiveServer, good: bytes, case: str) -> None:
    breaker, phrase = REFUSED[case]
    with server.client(server.tokens["car-1"]) as car:
        response = car.post("/frames", content=breaker(good), headers=MSGPACK)
    assert response.status_code == 400, (case, response.text)
    detail = response.json()["detail"]
    assert detail.startswith("invalid frame container:") and phrase in detail, detail


def test_the_16_bit_case_is_only_over_the_limit_in_bytes() -> None:
    assert 16 * 200 * 200 < LATENT_LIMIT < 2 * 16 * 200 * 200


def test_unknown_codec_is_422_and_names_the_known_ones(server: LiveServer, good: bytes,
                                                       codec) -> None:
    body = repack(good, lambda v: v.update(codec="0123456789abcdef"))
    with server.client(server.tokens["car-1"]) as car:
        response = car.post("/frames", content=body, headers=MSGPACK)
    assert response.status_code == 422
    assert "0123456789abcdef" in response.json()["detail"]
    assert codec[0].codec_id in response.json()["detail"]


def test_depth_other_than_the_codecs_is_422(server: LiveServer, good: bytes) -> None:
    body = repack(good, lambda v: v.update(d=2, shape=[16, 8, 12]))
    with server.client(server.tokens["car-1"]) as car:
        response = car.post("/frames", content=body, headers=MSGPACK)
    assert response.status_code == 422 and "d=2" in response.json()["detail"]


def test_wrong_content_type_is_415(server: LiveServer, good: bytes) -> None:
    with server.client(server.tokens["car-1"]) as car:
        response = car.post("/frames", content=good, headers={"content-type": "image/png"})
    assert response.status_code == 415


def test_chunked_body_over_the_limit_is_413(server: LiveServer) -> None:
    def chunks():
        for _ in range(BODY_LIMIT // 4096 + 2):
            yield b"\0" * 4096

    with server.client(server.tokens["car-1"]) as car:
        response = car.post("/frames", content=chunks(), headers=MSGPACK)
    assert response.status_code == 413


def raw_exchange(url: str, request: bytes) -> bytes:
    """Send raw bytes, return what the server answers (headers are enough)."""
    address = urlparse(url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(request)
        return connection.recv(65536)


def test_declared_length_over_the_limit_is_413_before_the_body(server: LiveServer) -> None:
    head = (f"POST /frames HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.tokens['car-1']}"
            f"\r\nContent-Type: application/x-msgpack\r\nContent-Length: {BODY_LIMIT * 100}"
            "\r\n\r\n").encode()
    answer = raw_exchange(server.url, head)  # no body is ever sent
    assert answer.startswith(b"HTTP/1.1 413")


def test_invalid_content_length_is_400(server: LiveServer) -> None:
    head = (f"POST /frames HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.tokens['car-1']}"
            "\r\nContent-Type: application/x-msgpack\r\nContent-Length: lots\r\n\r\n").encode()
    assert raw_exchange(server.url, head).startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize(("path", "params", "status"), [
    ("/frames", {"limit": 0}, 422),
    ("/frames", {"limit": 100000}, 422),
    ("/frames", {"cursor": "not-a-cursor"}, 422),
    ("/frames", {"cursor": "WzEsIDJd"}, 422),
    ("/frames", {"cursor": "f" * 32}, 422),
    ("/frames", {"vehicle": "car 1"}, 422),
    ("/frames", {"since": "yesterday-ish"}, 422),
    ("/frames/abc", {}, 422),
    ("/frames/0", {}, 422),
    ("/frames/99999999999999999999999", {}, 422),
    ("/frames/987654321", {}, 404),
    ("/frames/987654321/image", {}, 404),
    ("/frames/{stored}/segmentation", {"format": "jpeg"}, 422),
])
def test_malformed_reads_are_4xx(server: LiveServer, stored: int, path: str, params: dict,
                                 status: int) -> None:
    with server.admin as admin:
        response = admin.get(path.format(stored=stored), params=params)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
