# Clio in a container: `docker build -t clio . && docker run -p 10163:10163 -p 10164:10164 -v clio-data:/var/lib/clio clio`
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# rust-toolchain.toml pins the toolchain; its targets are added explicitly, because rustup
# does not install them on first use everywhere (RUSTUP_AUTO_INSTALL=0).
RUN rustup show active-toolchain && rustup target add wasm32-wasip2 \
    && cargo build --release -p clio --locked

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/clio clio && mkdir -p /var/lib/clio /etc/clio \
    && chown clio /var/lib/clio
COPY --from=build /src/target/release/clio /usr/local/bin/clio
COPY config/default.toml /etc/clio/clio.toml
USER clio
VOLUME /var/lib/clio
EXPOSE 10163 10164
# Listen on all interfaces inside the container; data on the volume.
ENV CLIO_DATA_DIR=/var/lib/clio CLIO_HTTP=0.0.0.0:10164 CLIO_TCP=0.0.0.0:10163 CLIO_AUTH=true
ENTRYPOINT ["clio"]
CMD ["serve", "--config", "/etc/clio/clio.toml"]
