"""The LatentLink edge agent: the vehicle-side daemon that captures, encodes and uploads frames.

Only numpy, onnxruntime and httpx run on its hot path (no torch): capture (``sources``) →
net_C under ONNX Runtime (``encoder``) → an on-disk store-and-forward queue (``spool``) →
``POST /frames`` (``uploader``), overlapped by ``pipeline``. See docs/edge.md.
"""
