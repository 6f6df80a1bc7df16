"""Shapes of ``/vehicles``: who may upload, and a freshly issued token."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cloud_service import crud
from cloud_service.db.models import Vehicle


class VehicleOut(BaseModel):
    """A registered vehicle; its token is never shown again after it was issued."""

    name: str
    created_at: float = Field(description="When it was registered, Unix seconds.")
    revoked: bool = Field(description="Its token is refused until a new one is issued.")

    @classmethod
    def from_record(cls, vehicle: Vehicle) -> VehicleOut:
        return cls(name=vehicle.name, created_at=vehicle.created_at,
                   revoked=crud.vehicles.is_revoked(vehicle))


class VehicleList(BaseModel):
    items: list[VehicleOut]


class IssuedToken(BaseModel):
    """A new bearer token, shown this once; only its SHA-256 is stored."""

    name: str
    token: str
