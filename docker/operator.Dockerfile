# The walrus operator. Built by docker/build.sh (`make images`), never by hand: the
# context is a directory of wheels made on the host, the base is the Debian bookworm
# image docker/debian-image.sh makes with debootstrap, and the build runs with no network.
# It carries the operator's extra only (Kopf, lightkube, pydantic): no LMDB, NumPy or
# ISA-L. Runs as uid 65532 (the chart's runAsUser) with a read-only root filesystem.
ARG BASE
FROM ${BASE}
# Dependencies first, the project's own wheel last: a change to the project's code
# rebuilds only the last layers.
COPY deps /tmp/deps
# pip runs from Debian's bundled wheel, so the image holds no pip.
RUN python3 -m venv --without-pip /opt/walrus \
 && /opt/walrus/bin/python "$(ls /usr/share/python-wheels/pip-*.whl)/pip" install \
    --no-index --no-cache-dir --no-deps --disable-pip-version-check /tmp/deps/*.whl \
 && rm -rf /tmp/deps \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin nonroot
COPY project /tmp/project
RUN /opt/walrus/bin/python "$(ls /usr/share/python-wheels/pip-*.whl)/pip" install \
    --no-index --no-cache-dir --no-deps --disable-pip-version-check /tmp/project/*.whl \
 && rm -rf /tmp/project
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/walrus/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 65532:65532
EXPOSE 8000 8080
ENTRYPOINT ["walrus-operator"]
