# A walrus storage node: `docker build -f docker/node.Dockerfile -t walrus-node:0.1.0 .`
# The runtime contract (command, ports, files) is docs/node-runtime.md; the operator's
# StatefulSet runs `walrus-node run --config /etc/walrus/config/node.yaml` as uid 65532
# with a read-only root filesystem, so everything writable is a mounted volume.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY node/ node/
COPY operator/ operator/
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/walrus/bin:$PATH
COPY --from=build /wheels /wheels
RUN python -m venv /opt/walrus \
 && /opt/walrus/bin/pip install --no-cache-dir --no-index --find-links /wheels walrus-k8s \
 && rm -rf /wheels \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin nonroot \
 && install -d -o 65532 -g 65532 /var/lib/walrus
USER 65532:65532
VOLUME ["/var/lib/walrus"]
EXPOSE 9185 9184
ENTRYPOINT ["walrus-node"]
CMD ["run", "--config", "/etc/walrus/config/node.yaml"]
