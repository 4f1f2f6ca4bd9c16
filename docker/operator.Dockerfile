# The walrus operator: `docker build -f docker/operator.Dockerfile -t walrus-operator:0.1.0 .`
# Two stages: wheels are built with the pinned constraints, then installed into a clean
# slim image that runs as the unprivileged uid 65532 (the Deployment's runAsUser).
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
 && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin nonroot
USER 65532:65532
EXPOSE 8000 8080
ENTRYPOINT ["walrus-operator"]
