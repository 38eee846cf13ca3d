# syntax=docker/dockerfile:1
# RelayRoom container image (docs/deploy.md):  docker build -t relayroom .
# Two stages: the first installs RelayRoom into a virtualenv (with compilers at hand for any dependency
# without a binary wheel), the second is a slim Python with only that virtualenv, run as a non-root user.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
COPY deploy/install.sh ./deploy/install.sh
RUN sh deploy/install.sh /opt/relayroom .

FROM python:${PYTHON_VERSION}-slim-bookworm
RUN groupadd --system --gid 10001 relayroom \
 && useradd --system --uid 10001 --gid relayroom --home-dir /var/lib/relayroom --shell /usr/sbin/nologin relayroom \
 && install -d -o relayroom -g relayroom -m 0700 /var/lib/relayroom
COPY --from=build /opt/relayroom /opt/relayroom
# Listen on every interface of the container; media workers need RELAYROOM_MEDIA__ANNOUNCED_IP (the
# address clients reach them at) when they bind all interfaces, and refuse to start without it.
ENV PATH=/opt/relayroom/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RELAYROOM_HOST=0.0.0.0 \
    RELAYROOM_PORT=8080 \
    RELAYROOM_DATA_DIR=/var/lib/relayroom \
    RELAYROOM_MEDIA__HOST=0.0.0.0
USER 10001:10001
WORKDIR /var/lib/relayroom
# master.key, signing.key and the SQLite database (when no database_url is set) live here: keep it.
VOLUME ["/var/lib/relayroom"]
# HTTP (console, API, /signal); one UDP port per media worker (40000 + i), ICE-TCP on the same numbers.
EXPOSE 8080/tcp 40000-40063/udp 40000-40063/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-m", "relayroom.healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["relayroom", "serve"]
