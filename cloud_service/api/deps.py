"""Dependencies shared by the routes: the runtime, a database session, and who is calling.

Dependencies that do not block are ``async def``: FastAPI runs plain ``def`` dependencies on its
thread pool, a hop per dependency per request that the upload path cannot afford.

Who may do what:

- ``POST /frames``: a vehicle's own token, for its own frames only.
- Reading frames: the admin token (every frame), or a vehicle's token (its own frames).
- Health and metrics: anyone (keep /metrics on the internal network).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cloud_service import crud
from cloud_service.core.security import hash_token, same_token
from cloud_service.db.models import FrameRecord
from cloud_service.ml import Models
from cloud_service.runtime import Runtime

MAX_ID = 2**63 - 1
"""Frame ids are BIGINT; a larger one in a path or cursor is a client error, not a DB error."""
FrameId = Annotated[int, Path(ge=1, le=MAX_ID, description="The server's id of the frame.")]

bearer = HTTPBearer(auto_error=False, description="A vehicle's token, or the admin token.")


@dataclass(frozen=True)
class Principal:
    """The caller: a vehicle (by name) or the admin (``vehicle`` is None)."""

    vehicle: str | None

    @property
    def is_admin(self) -> bool:
        return self.vehicle is None

    def may_read(self, vehicle: str) -> bool:
        return self.is_admin or self.vehicle == vehicle


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def ready_models(runtime: RuntimeDep) -> Models:
    """The loaded models; 503 (with Retry-After) while they are still loading."""
    if runtime.models is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            runtime.load_error or "models are loading; retry shortly",
                            headers={"Retry-After": "5"})
    return runtime.models


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
ModelsDep = Annotated[Models, Depends(ready_models)]


async def current_principal(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Whoever the bearer token belongs to; 401 for a missing or unknown token."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", challenge)
    token = credentials.credentials
    admin = runtime.settings.admin_token
    if admin is not None and same_token(token, admin.get_secret_value()):
        return Principal(vehicle=None)
    token_hash = hash_token(token)
    name = runtime.tokens.get(token_hash)
    if name is None:
        name = await run_in_threadpool(_vehicle_name, runtime, token_hash)
        if name is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token", challenge)
        runtime.tokens.put(token_hash, name)
    return Principal(vehicle=name)


def _vehicle_name(runtime: Runtime, token_hash: str) -> str | None:
    """The lookup uses a session of its own, closed at once: a connection held for the whole
    request would leave the pool empty for ingest under load (and deadlock it)."""
    with runtime.sessions() as session:
        vehicle = crud.vehicles.by_token_hash(session, token_hash)
        return None if vehicle is None else vehicle.name


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def current_vehicle(principal: PrincipalDep) -> str:
    """The uploading vehicle's name; the admin token cannot upload (frames come from vehicles)."""
    if principal.vehicle is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "uploads need a vehicle's own token")
    return principal.vehicle


def readable_frame(frame_id: FrameId, principal: PrincipalDep,
                   runtime: RuntimeDep) -> FrameRecord:
    """The frame, if the caller may read it; 404 if there is none, 403 if it is not theirs."""
    with runtime.sessions() as session:
        record = crud.frames.by_id(session, frame_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no frame with id {frame_id}")
    if not principal.may_read(record.vehicle):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the frame belongs to another vehicle")
    return record


async def require_admin(principal: PrincipalDep) -> None:
    """Operators only: labels, fine-tuning jobs and the model registry act on every vehicle."""
    if not principal.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs the admin token")


VehicleDep = Annotated[str, Depends(current_vehicle)]
AdminDep = Annotated[None, Depends(require_admin)]
FrameDep = Annotated[FrameRecord, Depends(readable_frame)]
