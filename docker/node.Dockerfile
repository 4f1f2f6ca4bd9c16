# A walrus storage node. Built by docker/build.sh (`make images`), never by hand: the
# context is a directory of wheels made on the host, the base is the Debian bookworm
# image docker/debian-image.sh makes with debootstrap, and the build runs with no network.
# The runtime contract (command, ports, files) is docs/node-runtime.md; the operator's
# StatefulSet runs `walrus-node run --config /etc/walrus/config/node.yaml` as uid 65532
# with a read-only root filesystem, so everything writable is a mounted volume.
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
 && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin nonroot \
 && install -d -o 65532 -g 65532 /var/lib/walrus
COPY project /tmp/project
RUN /opt/walrus/bin/python "$(ls /usr/share/python-wheels/pip-*.whl)/pip" install \
    --no-index --no-cache-dir --no-deps --disable-pip-version-check /tmp/project/*.whl \
 && rm -rf /tmp/project
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/walrus/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 65532:65532
VOLUME ["/var/lib/walrus"]
EXPOSE 9185 9184
ENTRYPOINT ["walrus-node"]
CMD ["run", "--config", "/etc/walrus/config/node.yaml"]
