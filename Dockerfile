# Builds the `shedu` binary. The tests do not use Docker; this is for deployments.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin shedu

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/shedu /usr/local/bin/shedu
RUN useradd --system --home /var/lib/shedu shedu && mkdir -p /var/lib/shedu && chown shedu /var/lib/shedu
USER shedu
ENV SHEDU_DATA_DIR=/var/lib/shedu SHEDU_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["shedu"]
CMD ["serve"]
