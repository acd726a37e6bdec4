# Clio in a container. Build: `docker build -t clio .`; run the whole deployment (Clio with
# InfluxDB 1.x and PostgreSQL): `docker compose up -d` (docker-compose.yml, README
# "Deployment"). Alone: `docker run -p 10163:10163 -p 10164:10164 -v clio-data:/var/lib/clio clio`.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# rust-toolchain.toml pins the toolchain; its targets are added explicitly, because rustup
# does not install them on first use everywhere (RUSTUP_AUTO_INSTALL=0).
RUN rustup show active-toolchain && rustup target add wasm32-wasip2 \
    && cargo build --release -p clio --locked

FROM debian:bookworm-slim
# A fixed numeric user, so the volume's ownership and Kubernetes' runAsNonRoot work
# without resolving names.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/clio --no-create-home clio \
    && mkdir -p /var/lib/clio /etc/clio \
    && chown 10001:10001 /var/lib/clio
COPY --from=build /src/target/release/clio /usr/local/bin/clio
COPY config/docker.toml /etc/clio/clio.toml
USER 10001:10001
VOLUME /var/lib/clio
EXPOSE 10163 10164
# Data on the volume; listen on all interfaces inside the container, so authentication is
# on (bootstrap the first token: `clio token create --data-dir /var/lib/clio --role admin`).
ENV CLIO_DATA_DIR=/var/lib/clio CLIO_HTTP=0.0.0.0:10164 CLIO_TCP=0.0.0.0:10163 CLIO_AUTH=true
# The binary asks its own /health: no curl in the image. `degraded` (a replica away, or the
# primary failing while the log still takes writes) counts as healthy; add --strict to
# disagree.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["clio", "health", "--quiet", "--server", "http://127.0.0.1:10164"]
ENTRYPOINT ["clio"]
CMD ["serve", "--config", "/etc/clio/clio.toml"]
