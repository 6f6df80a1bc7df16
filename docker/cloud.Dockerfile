# LatentLink cloud service: ingest, compressed-domain segmentation, operator API.
#
#   docker build -f docker/cloud.Dockerfile -t latentlink-cloud .                        # CPU
#   docker build -f docker/cloud.Dockerfile --build-arg VARIANT=cuda -t latentlink-cloud:cuda .
#
# VARIANT picks the PyTorch wheel index (CPU or CUDA 12.8 builds of torch); everything else is
# shared. Both variants start from the same slim Python image: torch's CUDA wheels bring the CUDA
# runtime libraries as pip packages (nvidia-*) and the NVIDIA Container Toolkit mounts the driver,
# so no CUDA base image is needed (nor fetched: the classic builder pulls every stage's base,
# used or not). Build and runtime stages use the same base so the virtual environment copies
# across unchanged.
# Package indexes are build arguments, for hosts that reach PyPI or download.pytorch.org only
# through a mirror: PIP_INDEX_URL and PIP_EXTRA_INDEX_URL (pip reads both from the environment)
# and TORCH_INDEX (where torch itself comes from). No syntax directive: the classic builder and
# BuildKit both build this file without fetching a frontend image from a registry.

ARG VARIANT=cpu

FROM python:3.11-slim-bookworm AS base-cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV TORCH_INDEX=${TORCH_INDEX}

FROM python:3.11-slim-bookworm AS base-cuda
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ENV TORCH_INDEX=${TORCH_INDEX} NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility

FROM base-${VARIANT} AS build
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, from the variant's index, so the project's pin resolves to that build.
RUN pip install --index-url "$TORCH_INDEX" "torch==2.13.0"
COPY pyproject.toml README.md /src/
COPY shared /src/shared
COPY cloud_service /src/cloud_service
COPY edge_agent /src/edge_agent
RUN pip install "/src[cloud]"

FROM base-${VARIANT} AS runtime
# /secrets and /fleet: where the compose stack's init writes the admin token and the simulated
# vehicle's token; owned by the service's user so that fresh named volumes mounted there are too.
RUN useradd --system --uid 10001 --home-dir /data --create-home latentlink \
 && mkdir /secrets /fleet && chown latentlink /secrets /fleet
COPY --from=build /opt/venv /opt/venv
COPY docker/compose-init.sh /usr/local/bin/latentlink-compose-init
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LATENTLINK_DATA_DIR=/data
USER latentlink
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["cloud-service"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
