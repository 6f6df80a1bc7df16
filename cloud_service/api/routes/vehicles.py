"""``/vehicles``: list vehicles, issue a new token, revoke one (operators only).

A change holds for the next request this process serves: the token cache forgets the vehicle
before the answer is sent. Other replicas follow within ``TOKEN_CACHE_S`` (a second), as does
this one for changes made elsewhere (the CLI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from cloud_service import crud
from cloud_service.api.deps import AdminDep, RuntimeDep, SessionDep
from cloud_service.api.routes.frames import ERROR
from cloud_service.core.security import hash_token, new_token
from cloud_service.db.models import Vehicle
from cloud_service.runtime import Runtime
from cloud_service.schemas.vehicles import IssuedToken, VehicleList, VehicleOut
from latentlink.codec.container import VEHICLE_PATTERN

router = APIRouter(prefix="/vehicles", tags=["vehicles"])
VehicleName = Annotated[str, Path(pattern=VEHICLE_PATTERN,
                                  description="The vehicle's name.")]
AUTH_ERRORS = {401: ERROR, 403: ERROR}


@router.get("", response_model=VehicleList, responses=AUTH_ERRORS)
def list_vehicles(session: SessionDep, _: AdminDep) -> VehicleList:
    """Every registered vehicle, revoked ones included, by name."""
    return VehicleList(items=[VehicleOut.from_record(row)
                              for row in crud.vehicles.everyone(session)])


@router.post("/{name}/rotate-token", response_model=IssuedToken,
             responses={**AUTH_ERRORS, 404: ERROR})
async def rotate_token(name: VehicleName, runtime: RuntimeDep, _: AdminDep) -> IssuedToken:
    """Issue the vehicle a new token (shown this once) and refuse its old one from now on;
    a revoked vehicle gets its access back this way."""
    token = new_token()
    await _change(runtime, name, lambda vehicle: crud.vehicles.set_token_hash(
        vehicle, hash_token(token)))
    return IssuedToken(name=name, token=token)


@router.post("/{name}/revoke", response_model=VehicleOut, responses={**AUTH_ERRORS, 404: ERROR})
async def revoke(name: VehicleName, runtime: RuntimeDep, _: AdminDep) -> VehicleOut:
    """Refuse the vehicle's token from now on; its frames stay. Revoking twice is harmless."""
    return await _change(runtime, name, crud.vehicles.revoke)


async def _change(runtime: Runtime, name: str, change: Callable[[Vehicle], None]) -> VehicleOut:
    def apply() -> VehicleOut:
        with runtime.sessions.begin() as session:
            vehicle = _vehicle(session, name)
            change(vehicle)
            return VehicleOut.from_record(vehicle)

    changed = await run_in_threadpool(apply)
    runtime.tokens.forget(name)  # after the commit: a lookup now reads the new state
    return changed


def _vehicle(session: Session, name: str) -> Vehicle:
    vehicle = crud.vehicles.by_name(session, name)
    if vehicle is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no vehicle named {name!r}")
    return vehicle
