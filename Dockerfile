# syntax=docker/dockerfile:1
#
# One image for the whole platform. The command chooses what runs:
#   todo                     all-in-one (the default): edge and the three services
#   todo user | todo task | todo notify | todo edge   one part per container
#   todo migrate             apply every service's database migrations, then exit
#
# Build: docker build --build-arg VCS_REF="$(git rev-parse HEAD)" -t todo .

# Keep in step with RUST_IMAGE in .gitlab-ci.yml (tests/shipping checks it).
ARG RUST_VERSION=1.95

# ---- toolchain + cargo-chef, shared by the two stages below -----------------
FROM rust:${RUST_VERSION}-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# ---- the dependency recipe: manifests and Cargo.lock only -------------------
# It changes only when dependencies change, so the next stage's cook layer is
# reused across every commit that touches sources alone.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- build ------------------------------------------------------------------
FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only, with the profile and flags of scripts/build-release.sh
# (a mismatch would not break the build, only miss this cache).
RUN cargo chef cook --release --locked --bin todo --recipe-path recipe.json
COPY . .
# The same script CI runs: what the tests prove is what ships.
# The shipped binary keeps its symbol names but not its debug info, which
# goes to /out/debug (not copied into the runtime image; see the README).
RUN scripts/build-release.sh --out-dir /out/bin --debug-dir /out/debug \
 && mkdir -p /out/data/mail

# ---- debug info: not shipped; CI keeps it as an artifact ---------------------
# `docker buildx build --target debug-info --output type=local,dest=debug .`
# writes todo.debug, which gdb and perf use beside the shipped binary.
FROM scratch AS debug-info
COPY --from=build /out/debug/ /

# ---- runtime: glibc, libgcc, CA certificates, no shell, no package manager --
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

COPY --from=build /out/bin/ /usr/local/bin/
# The working directory holds ./data, where the embedded defaults (SQLite
# files, .eml mail) live; production points every service at MySQL and SMTP.
# data/mail exists here so a volume mounted on it inherits the owner.
COPY --from=build --chown=65532:65532 /out/data /app/data
WORKDIR /app

# Inside a container every port must listen beyond loopback; the container's
# network is the boundary. Peers' URLs are set per deployment (compose).
ENV TODO_EDGE_LISTEN=0.0.0.0:8080 \
    TODO_USER_LISTEN=0.0.0.0:50051 \
    TODO_TASK_LISTEN=0.0.0.0:50052 \
    TODO_NOTIFY_LISTEN=0.0.0.0:50053 \
    TODO_LOG_FORMAT=json

# The distroless "nonroot" user; numeric so any runtime can verify it.
USER 65532:65532
EXPOSE 8080 50051 50052 50053

# For the default all-in-one command: the edge's /readyz is SERVING only when
# every upstream is. docker-compose.yml sets a probe per service.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/todo", "probe", "http", "http://127.0.0.1:8080/readyz"]

CMD ["todo"]

# Last, so a new commit changes metadata only, never a cached layer.
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="todo" \
      org.opencontainers.image.description="ToDo platform: REST edge and user, task, notify gRPC services" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${VCS_REF}"
