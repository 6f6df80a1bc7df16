# syntax=docker/dockerfile:1
# LatentLink edge agent: net_C through ONNX Runtime, Huffman coding, upload. The runtime image
# has no torch: latentlink is installed with the "edge" extra only (onnxruntime, numpy, httpx,
# prometheus-client). net_C is exported to ONNX by `latentlink export-onnx` in a throwaway stage
# that does have torch.
#
#   docker build -f docker/edge.Dockerfile -t latentlink-edge .
#   docker build -f docker/edge.Dockerfile --build-arg CODEC_WEIGHTS=default:paper .

FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md /src/
COPY shared /src/shared
COPY cloud_service /src/cloud_service
COPY edge_agent /src/edge_agent
RUN pip install "/src[edge]"

FROM build AS export
ARG CODEC_WEIGHTS=default
ARG CODEC_DEPTH=2
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
 && pip install "/src[ml,edge]"
RUN latentlink export-onnx --weights "$CODEC_WEIGHTS" --depth "$CODEC_DEPTH" -o /opt/net_c.onnx

FROM python:3.11-slim-bookworm AS runtime
RUN useradd --system --uid 10001 --create-home latentlink \
 && mkdir /spool && chown latentlink /spool
COPY --from=build /opt/venv /opt/venv
COPY --from=export /opt/net_c.onnx /opt/latentlink/net_c.onnx
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    LATENTLINK_MODEL=/opt/latentlink/net_c.onnx LATENTLINK_SPOOL=/spool
USER latentlink
VOLUME /spool
ENTRYPOINT ["edge-agent"]
CMD ["run", "--source", "synthetic"]
