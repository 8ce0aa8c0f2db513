# Dovetail: one static-stdlib binary on a slim Debian runtime.
#
#   docker build -t dovetail:dev --build-arg DOVETAIL_VERSION=$(git describe --tags --always) .
#   docker run --rm -v dovetail-data:/var/lib/dovetail/data dovetail:dev tokens create --name admin --scope admin
#   docker run -d -p 127.0.0.1:8080:8080 -v dovetail-data:/var/lib/dovetail/data dovetail:dev
#
# The build stage is the official Swift image of the toolchain this package is built and tested with
# (Swift 6.3, Debian bookworm); the runtime stage is the same Debian release, so the glibc the binary
# was linked against is the one it runs on. deploy/verify-containers builds the runtime stage alone
# from a binary built on the host (`--target runtime` with BUILD_STAGE=prebuilt): see its header.

ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
# `build` compiles in the Swift image; `prebuilt` copies .build-image/image/dovetail from the context.
ARG BUILD_STAGE=build

# ---------------------------------------------------------------------------------------------------
FROM ${SWIFT_IMAGE} AS build
WORKDIR /src
# Resolve dependencies first, so a change to the sources reuses this layer.
COPY Package.swift ./
RUN swift package resolve
# Every target Package.swift declares must exist, benchmarks and tests included.
COPY Sources ./Sources
COPY Tests ./Tests
COPY Benchmarks/Sources ./Benchmarks/Sources
RUN swift build -c release --static-swift-stdlib --product dovetail \
    && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/dovetail" /out/dovetail \
    && strip /out/dovetail

# ---------------------------------------------------------------------------------------------------
# For a machine without registry access: the same binary, built on a bookworm host beforehand with
# `swift build -c release --static-swift-stdlib --scratch-path .build-image` and stripped into
# .build-image/image/ (deploy/verify-containers does both). Needs BuildKit, which skips the unused `build` stage.
FROM ${RUNTIME_IMAGE} AS prebuilt
COPY .build-image/image/dovetail /out/dovetail

FROM ${BUILD_STAGE} AS binary

# ---------------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
ARG DOVETAIL_VERSION=dev
ARG DOVETAIL_REVISION=unknown
ARG DOVETAIL_CREATED=unknown
LABEL org.opencontainers.image.title="dovetail" \
      org.opencontainers.image.description="The backend of an AI-agent platform, on SQLite or PostgreSQL." \
      org.opencontainers.image.version="${DOVETAIL_VERSION}" \
      org.opencontainers.image.revision="${DOVETAIL_REVISION}" \
      org.opencontainers.image.created="${DOVETAIL_CREATED}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

# ca-certificates: TLS to PostgreSQL (sslmode=verify-*); tzdata: zone names. The Swift standard library,
# Foundation and ICU data are linked into the binary, so nothing else is needed (checked with ldd).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --gid 10001 dovetail \
    && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /var/lib/dovetail --no-create-home --shell /usr/sbin/nologin dovetail \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/dovetail /var/lib/dovetail/data

COPY --from=binary /out/dovetail /usr/local/bin/dovetail

# Relative defaults resolve here: SQLite at ./data/dovetail.db, DOVETAIL_DATA_DIR ./data.
WORKDIR /var/lib/dovetail
VOLUME ["/var/lib/dovetail/data"]
USER 10001:10001
ENV HOST=0.0.0.0 \
    PORT=8080
EXPOSE 8080
# `dovetail health` asks the local /health/ready and exits 0 or 1: no curl in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["dovetail", "health", "--path", "/health/ready", "--timeout", "4"]
ENTRYPOINT ["dovetail"]
CMD ["serve"]
