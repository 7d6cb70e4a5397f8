# Image with snk, snkctl, tst and psql, for compose.yaml and deploy/kubernetes. It holds
# no password: compose passes PGPASSWORD when it starts a container (libpq reads it like
# any PG* variable), Kubernetes mounts a password file (deploy/kubernetes/secret.yaml).
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libpq-dev libevent-dev uuid-dev libcjson-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt LICENSE README.md ./
COPY cmake cmake
COPY include include
COPY src src
COPY tools tools
COPY bench bench
COPY migrations migrations
COPY dist dist
COPY man man
COPY docs docs
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSNK_TESTS=OFF \
    && cmake --build build -j"$(nproc)" \
    && cmake --install build --prefix /usr/local

FROM debian:12-slim
# curl: for HEALTHCHECK.
RUN apt-get update && apt-get install -y --no-install-recommends \
      libpq5 libevent-2.1-7 libuuid1 libcjson1 postgresql-client-15 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 snk \
    && useradd --system --uid 10001 --gid snk --home /nonexistent --shell /usr/sbin/nologin snk
COPY --from=build /usr/local/bin/snk /usr/local/bin/snkctl /usr/local/bin/
COPY --from=build /usr/local/libexec/snk/tst /usr/local/libexec/snk/tst
COPY migrations /usr/share/snk/migrations
COPY dist/compose-config.json /etc/snk/config.json
# By number, so that Kubernetes' runAsNonRoot can tell it is not root (deployment.yaml
# names the same user).
USER 10001:10001
# metrics_listen in the config: /metrics, /livez, /readyz, /healthz.
EXPOSE 9187
# /livez: snk's loop answers. Not /healthz, which is 503 while a database is down or snk
# is paused, states snk rides out by itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:9187/livez || exit 1
ENTRYPOINT ["snk", "-c", "/etc/snk/config.json"]
