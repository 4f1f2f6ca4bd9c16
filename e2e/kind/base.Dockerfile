# kind's base image, assembled here (e2e/kind/node-image.sh) instead of pulled: a Debian
# bookworm root made by debootstrap with systemd, containerd and runc from Debian's
# packages; kind's own base files (entrypoint, systemd units, containerd config) from the
# pinned kind module's images/base/files; crictl and the CNI plugins built from Go
# modules. The steps follow kind's images/base/Dockerfile for that release, with one
# change: containerd never gives a container a lower OOM score than its own
# (restrict_oom_score_adj), since lowering it needs CAP_SYS_RESOURCE, which the node
# container lacks here.
ARG DEBIAN
FROM ${DEBIAN}
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY bin/crictl /usr/local/bin/crictl
COPY cni/ /opt/cni/bin/
COPY cri-base.json /etc/containerd/cri-base.json
RUN chmod 755 /kind /kind/bin /kind/bin/* /usr/local/bin/* /opt/cni/bin/* \
 && ln -sf /usr/bin/containerd /usr/local/bin/containerd \
 && ln -sf /usr/bin/ctr /usr/local/bin/ctr \
 && ln -sf /usr/bin/containerd-shim-runc-v2 /usr/local/bin/containerd-shim-runc-v2 \
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* \
 && rm -f /etc/systemd/system/*.wants/* \
 && rm -f /lib/systemd/system/local-fs.target.wants/* \
 && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
 && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
 && rm -f /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && ln -sf /usr/lib/systemd/systemd /sbin/init \
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
 && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests \
 && sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
