"""Every query on the service's tables, one module per resource.

Routes, ingest, the segmentation worker, the job runner and the model registry call these and
write no SQL of their own. A function here works inside the caller's session and never commits:
where a transaction begins and ends (a request's session, the group writer, ``sessions.begin()``)
stays with the caller, because the exactly-once and crash guarantees rest on those boundaries.
"""

from cloud_service.crud import annotations, fleet, frames, jobs, models, vehicles

__all__ = ["annotations", "fleet", "frames", "jobs", "models", "vehicles"]
