"""The FastAPI application: settings in, routers mounted, runtime opened by the lifespan.

The lifespan opens the database and blob store before the first request and loads the models
once, on a thread, so /healthz answers at once and /readyz turns 200 when loading is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from starlette.requests import ClientDisconnect

from cloud_service import console
from cloud_service.api.routes import annotations, frames, health, jobs, models, vehicles
from cloud_service.core.config import Settings
from cloud_service.runtime import Runtime

log = logging.getLogger(__name__)

DESCRIPTION = """\
LatentLink's cloud side. Vehicles upload frames as learned compressed latents (msgpack frame
containers); the service Huffman-decodes them, stores them durably, segments them in the
compressed domain, and shows operators net_D reconstructions.

Authentication: `Authorization: Bearer <token>`, a vehicle's token (upload and read its own
frames) or the admin token (read every frame).

Operators: the web console is at [/ui](/ui) (sign in with the admin token).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app for ``settings`` (default: read from the environment)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await asyncio.to_thread(Runtime.open, settings)
        app.state.runtime = runtime
        loading = asyncio.create_task(asyncio.to_thread(runtime.load_models))
        try:
            yield
        finally:
            await loading
            await asyncio.to_thread(runtime.close)

    # The console serves /docs and /redoc itself, from local copies of their scripts.
    app = FastAPI(title="LatentLink cloud service", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(frames.router)
    app.include_router(health.router)
    app.include_router(annotations.router)
    app.include_router(jobs.router)
    app.include_router(models.router)
    app.include_router(vehicles.router)
    console.mount(app, settings)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    return app


async def _client_disconnected(request: Request, _: Exception) -> Response:
    """A client that went away (or was cut off) mid-body is its fault, not the server's: one
    log line, no traceback. Nobody reads the answer."""
    client = request.client
    log.info("%s %s from %s: the client disconnected before its request arrived whole",
             request.method, request.url.path,
             f"{client.host}:{client.port}" if client else "a client")
    return Response(status_code=400)
