# Image with snk, snkctl, tst and psql, for compose.yaml.
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libpq-dev libevent-dev uuid-dev libcjson-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY include include
COPY src src
COPY tools tools
COPY migrations migrations
COPY test test
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j"$(nproc)" \
    && cmake --install build --prefix /usr/local

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libpq5 libevent-2.1-7 libuuid1 libcjson1 postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /nonexistent --shell /usr/sbin/nologin snk
COPY --from=build /usr/local/bin/snk /usr/local/bin/snkctl /usr/local/bin/tst /usr/local/bin/
COPY migrations /usr/share/snk/migrations
COPY dist/compose-config.json /etc/snk/config.json
USER snk
ENTRYPOINT ["snk", "-c", "/etc/snk/config.json"]
