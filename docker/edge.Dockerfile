# LatentLink edge agent: net_C through ONNX Runtime, Huffman coding, upload. The runtime image
# has no torch: latentlink is installed with the "edge" extra only (onnxruntime, numpy, httpx,
# prometheus-client). net_C is the shipped ONNX model (package data of edge_agent, exported from
# the shipped default codec); another codec's model is mounted and named by LATENTLINK_EDGE_MODEL.
#
#   docker build -f docker/edge.Dockerfile -t latentlink-edge .
#
# Package indexes are build arguments (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL; pip reads both from
# the environment), for hosts that reach PyPI only through a mirror.

FROM python:3.11-slim-bookworm AS build
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md /src/
COPY shared /src/shared
COPY cloud_service /src/cloud_service
COPY edge_agent /src/edge_agent
RUN pip install "/src[edge]"

FROM python:3.11-slim-bookworm AS runtime
RUN useradd --system --uid 10001 --create-home latentlink \
 && mkdir /spool && chown latentlink /spool
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LATENTLINK_EDGE_SPOOL=/spool
USER latentlink
VOLUME /spool
ENTRYPOINT ["edge-agent"]
CMD ["run", "--source", "synthetic"]
