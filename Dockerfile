# Dovetail: one static-stdlib binary on a trimmed Debian runtime.
#
#   docker build -t dovetail:dev --build-arg DOVETAIL_VERSION=$(git describe --tags --always) .
#   docker run --rm -v dovetail-data:/var/lib/dovetail/data dovetail:dev tokens create --name admin --scope admin
#   docker run -d -p 127.0.0.1:8080:8080 -v dovetail-data:/var/lib/dovetail/data dovetail:dev
#
# The build stage is the official Swift image of the toolchain this package is built and tested with
# (Swift 6.3, Debian bookworm); the runtime is made of the same Debian release's packages, so the glibc the
# binary was linked against is the one it runs on. The runtime is `debian:bookworm-slim` with ca-certificates
# and tzdata installed and then cut down to the few packages the binary and a shell need (`trim`), copied
# flat into an empty image, so what is left out really is absent (deleting files in a layer above the base
# would not shrink it). deploy/verify-containers builds the runtime stage alone from a binary built on the
# host (`--target runtime` with BUILD_STAGE=prebuilt): see its header.

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
# The runtime filesystem: the packages below, whole, and nothing else from debian:bookworm-slim. An allow-list
# rather than a list of removals: a package the base image gains later stays out, and dpkg's maintainer
# scripts (which need perl, debconf, pam…) never run backwards. Kept, and why:
#   libc6 libgcc-s1 libstdc++6 gcc-12-base  what `ldd dovetail` lists (glibc, libm, libgcc_s, libstdc++;
#                                           gcc-12-base is their common copyright/base package); the Swift
#                                           runtime, Foundation and ICU's data are linked into the binary
#   libc-bin                                the C.UTF-8 locale, ldconfig's cache, getent/ldd for debugging
#   ca-certificates                         /etc/ssl/certs/ca-certificates.crt, PostgreSQL over TLS
#                                           (sslmode=verify-*); NIO's TLS reads it, no openssl needed
#   tzdata                                  /usr/share/zoneinfo: zone names (TZ=, Foundation's TimeZone)
#   base-files base-passwd usr-is-merged    /etc/os-release, the directory skeleton, root's passwd/group
#   dash                                    /bin/sh (`docker exec -it … sh`, anything spawned through sh)
#   coreutils + libacl1 libattr1 libgmp10   id, ls, cat, env… for inspecting a running container (and
#     libselinux1 libpcre2-8-0              deploy/verify-containers' `id -u`); the libraries are what
#                                           coreutils links
# Left out, because the binary never runs them: apt, dpkg and their libraries (gnutls, gcrypt, systemd,
# zstd, lz4, bz2, xz…), perl-base and debconf (install-time scripts), bash (dash is /bin/sh), login,
# passwd, PAM, util-linux/mount, e2fsprogs, tar, gzip, grep, sed, findutils, diffutils, mawk, ncurses and
# openssl with libssl3 (ca-certificates' install-time dependency, for update-ca-certificates). No package
# manager in the image: rebuild it to change it. /var/lib/dpkg/status lists exactly the kept packages, so
# image scanners still see their versions.
FROM ${RUNTIME_IMAGE} AS trim
# bash for pipefail in the RUNs below: a failed dpkg-query in a pipe must fail the build (bash is in the
# build stage only; the runtime image has dash).
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG KEEP_PACKAGES="libc6 libgcc-s1 libstdc++6 gcc-12-base libc-bin ca-certificates tzdata base-files base-passwd usr-is-merged dash coreutils libacl1 libattr1 libgmp10 libselinux1 libpcre2-8-0"
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --gid 10001 dovetail \
    && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /var/lib/dovetail --no-create-home --shell /usr/sbin/nologin dovetail \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/dovetail /var/lib/dovetail/data
# The kept packages' files (dpkg -L), the merged-/usr links, and what their maintainer scripts and the lines
# above generated (no package owns those): accounts, the certificate bundle and its hash links, /etc/localtime.
RUN set -eu; \
    dpkg-query -W $KEEP_PACKAGES > /dev/null; \
    { printf '%s\n' /bin /sbin /lib /lib64; \
      dpkg-query -L $KEEP_PACKAGES; \
      printf '%s\n' /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/nsswitch.conf /etc/ld.so.cache \
          /etc/localtime /etc/timezone /etc/ssl/certs /etc/ssl/certs/* /root /home /tmp /var/tmp \
          /var/lib/dovetail /var/lib/dovetail/data; \
    } | grep '^/' | sort -u | while read -r path; do \
        if [ -e "$path" ] || [ -L "$path" ]; then echo "${path#/}"; fi; \
    done > /tmp/keep.list; \
    mkdir -p /rootfs/var/lib/dpkg; \
    for link in /bin /sbin /lib /lib64; do [ ! -L "$link" ] || mkdir -p "/rootfs/$(readlink "$link")"; done; \
    tar -C / --no-recursion -cf /tmp/rootfs.tar -T /tmp/keep.list; \
    tar -C /rootfs -xpf /tmp/rootfs.tar; \
    dpkg-query -s $KEEP_PACKAGES > /rootfs/var/lib/dpkg/status

# ---------------------------------------------------------------------------------------------------
FROM scratch AS runtime
ARG DOVETAIL_VERSION=dev
ARG DOVETAIL_REVISION=unknown
ARG DOVETAIL_CREATED=unknown
LABEL org.opencontainers.image.title="dovetail" \
      org.opencontainers.image.description="The backend of an AI-agent platform, on SQLite or PostgreSQL." \
      org.opencontainers.image.version="${DOVETAIL_VERSION}" \
      org.opencontainers.image.revision="${DOVETAIL_REVISION}" \
      org.opencontainers.image.created="${DOVETAIL_CREATED}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

# One layer: the trimmed Debian root (see `trim`), user 10001 and its data directory included.
COPY --from=trim /rootfs/ /
COPY --from=binary /out/dovetail /usr/local/bin/dovetail

# Relative defaults resolve here: SQLite at ./data/dovetail.db, DOVETAIL_DATA_DIR ./data.
WORKDIR /var/lib/dovetail
VOLUME ["/var/lib/dovetail/data"]
USER 10001:10001
# An empty base image has no environment: PATH is set here (Docker would default it, other runtimes may not).
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOST=0.0.0.0 \
    PORT=8080
EXPOSE 8080
# `dovetail health` asks the local /health/ready and exits 0 or 1: no curl in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["dovetail", "health", "--path", "/health/ready", "--timeout", "4"]
ENTRYPOINT ["dovetail"]
CMD ["serve"]
