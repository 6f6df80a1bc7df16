"""Reading an upload's body under a size limit, before and while it arrives.

A declared ``Content-Length`` over the limit is refused without reading a byte; a body without
one (chunked) or one that lies is cut off as soon as it passes the limit, so no client can make
the server buffer more than the limit.
"""

from __future__ import annotations

from fastapi import Request

from cloud_service.ingest import IngestError
from latentlink.codec.container import MEDIA_TYPE as MSGPACK


async def read_capped_body(request: Request, limit: int, expected: str = MSGPACK,
                           what: str = "a frame container") -> bytes:
    """The body of an upload (a frame container unless told otherwise); raises
    :class:`IngestError` (400/413/415)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != expected:
        raise IngestError(415, f"the body must be {what} sent as {expected}, "
                               f"not {media_type or 'untyped'}")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise IngestError(400, f"invalid Content-Length {declared!r}")
        if int(declared) > limit:
            raise IngestError(413, f"body of {declared} bytes exceeds the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise IngestError(413, f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
