# syntax=docker/dockerfile:1
#
# hubwatch container image.
#
#   docker build -t ghcr.io/your-org/hubwatch:0.1.0 .
#   docker run --read-only -v hubwatch-state:/var/lib/hubwatch -p 9464:9464 \
#     -v "$PWD/config/local.toml:/etc/hubwatch/config.toml:ro" ghcr.io/your-org/hubwatch:0.1.0
#
# The image runs as uid 65532 (distroless "nonroot") and writes only below
# /var/lib/hubwatch (checkpoints, dead letters), so it runs with a read-only root filesystem.
# Logs are JSON unless stderr is a terminal (`docker run -t`) or the configuration says otherwise.
#
# Labels: pass the commit (and your repository) when building,
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg SOURCE=https://github.com/your-org/hubwatch -t ghcr.io/your-org/hubwatch:0.1.0 .
#
# Base images are pinned by digest (multi-platform index digests as published for these tags);
# a rebuild gets the same bytes until someone moves the pin. To refresh one:
#   docker buildx imagetools inspect rust:1.95-bookworm   (the "Digest:" line)
#   docker buildx imagetools inspect gcr.io/distroless/cc-debian12:nonroot

# ---- build -------------------------------------------------------------------------------
FROM rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS builder
WORKDIR /src
COPY . .
# The commit is compiled in as hubwatch_build_info{revision} (/metrics), as well as labelled.
ARG REVISION=unknown
# The lock file is authoritative: --locked fails instead of resolving new versions. The release
# profile strips the DWARF (94 MB -> 24 MB) and keeps the symbol table, so a RUST_BACKTRACE
# backtrace still names its functions; panic messages carry file:line without debug info.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    HUBWATCH_REVISION="${REVISION}" cargo build --release --locked --bin hubwatch \
 && install -D -m 0755 target/release/hubwatch /out/usr/local/bin/hubwatch \
 && mkdir -p /out/var/lib/hubwatch

# ---- runtime -----------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
ARG REVISION=unknown
ARG SOURCE=https://github.com/your-org/hubwatch
LABEL org.opencontainers.image.title="hubwatch" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.description="Detection rules over Azure logs streamed through Event Hubs" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=builder /out/usr/local/bin/hubwatch /usr/local/bin/hubwatch
# Rules on disk (config.toml points [rules] dir here; mount your own over it to change them).
COPY rules/ /etc/hubwatch/rules/
# The shipped configurations; /etc/hubwatch/config.toml is the documented example and is
# normally replaced by a mounted file (Kubernetes ConfigMap, Container Apps secret volume).
COPY config/ /etc/hubwatch/
COPY config/example.toml /etc/hubwatch/config.toml
COPY --from=builder --chown=65532:65532 /out/var/lib/hubwatch /var/lib/hubwatch

ENV HUBWATCH_SERVICE__STATE_DIR=/var/lib/hubwatch \
    HUBWATCH_HTTP__LISTEN=0.0.0.0:9464
VOLUME ["/var/lib/hubwatch"]
WORKDIR /var/lib/hubwatch
USER 65532:65532
EXPOSE 9464

# For `docker run` and Compose only: OCI-format images (buildah, podman, `buildx` with OCI media
# types) drop HEALTHCHECK, and Kubernetes and Container Apps ignore it. There the orchestrator's
# probes are the health check: /healthz (liveness) and /readyz (readiness) on port 9464, as in
# deploy/. This probes /readyz over plain HTTP (no curl in the image).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/hubwatch", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/hubwatch"]
CMD ["run", "--config", "/etc/hubwatch/config.toml"]
