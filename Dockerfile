# pyetcd's container image, configured like etcd's by ETCD_* variables.
#
#   docker build -t pyetcd .                    (podman: podman build --format docker -t pyetcd .)
#
# BASE_IMAGE is any image with python3 >= 3.11 and its venv module (Debian: python3, python3-venv),
# so a site with its own registry, or none, builds from its own base. Wheels put in ./wheels are
# preferred to PyPI; with --build-arg PIP_NO_INDEX=1 they are the only source (an offline build).
# The docker image format is needed for the HEALTHCHECK (podman's default, OCI, drops it).
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG PIP_NO_INDEX=0
ENV PIP_NO_INDEX=${PIP_NO_INDEX} PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY . /src
RUN python3 -m venv /opt/pyetcd \
 && /opt/pyetcd/bin/pip install --find-links /src/wheels /src \
 && /opt/pyetcd/bin/pip uninstall --yes pip setuptools

FROM ${BASE_IMAGE}
ARG PYETCD_UID=10001
RUN groupadd --system --gid "${PYETCD_UID}" pyetcd \
 && useradd --system --uid "${PYETCD_UID}" --gid pyetcd --home-dir /var/lib/etcd --no-create-home \
      --shell /usr/sbin/nologin pyetcd \
 && install -d -o pyetcd -g pyetcd -m 0700 /var/lib/etcd
COPY --from=build /opt/pyetcd /opt/pyetcd
COPY packaging/docker/healthcheck.py /opt/pyetcd/healthcheck.py
# The listen URLs bind every address so published ports reach the member; pyetcd serves only the
# v2 API, which etcd 3.4 keeps off unless asked. Override any of these with -e ETCD_...=...
ENV PATH=/opt/pyetcd/bin:${PATH} \
    ETCD_DATA_DIR=/var/lib/etcd \
    ETCD_ENABLE_V2=true \
    ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379 \
    ETCD_ADVERTISE_CLIENT_URLS=http://localhost:2379 \
    ETCD_LISTEN_PEER_URLS=http://0.0.0.0:2380
USER pyetcd
WORKDIR /var/lib/etcd
VOLUME /var/lib/etcd
EXPOSE 2379 2380
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
  CMD ["/opt/pyetcd/bin/python", "/opt/pyetcd/healthcheck.py"]
# No flags: a flag and an ETCD_* variable for one setting conflict, as in etcd.
CMD ["/opt/pyetcd/bin/pyetcd"]
