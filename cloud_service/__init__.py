"""LatentLink's cloud service: ingest compressed frames, segment them in the compressed domain,
store them durably, and serve them to operators (docs/cloud.md)."""
