"""The OpenAPI document describes every endpoint, the msgpack upload and the PNG answers."""

from __future__ import annotations

from tests.cloud.servers import LiveServer


def test_openapi_documents_the_api(server: LiveServer) -> None:
    with server.client() as client:
        spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) == {"/frames", "/frames/{frame_id}", "/frames/{frame_id}/segmentation",
                          "/frames/{frame_id}/image", "/frames/{frame_id}/latent", "/healthz",
                          "/readyz", "/metrics", "/frames/{frame_id}/annotation", "/jobs/finetune",
                          "/jobs", "/jobs/{job_id}", "/jobs/{job_id}/cancel", "/models",
                          "/models/rollback", "/models/{version}/promote", "/frames/resegment",
                          "/vehicles", "/vehicles/{name}/revoke", "/vehicles/{name}/rotate-token"}
    upload = paths["/frames"]["post"]
    assert "application/x-msgpack" in upload["requestBody"]["content"]
    documented = set(upload["responses"])
    assert {"200", "201", "400", "401", "403", "409", "413", "415", "422"} <= documented
    for endpoint in ("/frames/{frame_id}/segmentation", "/frames/{frame_id}/image"):
        assert "image/png" in paths[endpoint]["get"]["responses"]["200"]["content"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
