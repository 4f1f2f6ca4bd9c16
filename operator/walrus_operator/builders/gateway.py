"""The children of a WalrusGateway: the client ConfigMap, the Deployment running
``walrus gateway``, its Service, and (when asked for) an Ingress and a
HorizontalPodAutoscaler.

The ConfigMap holds ``client.yaml`` pointing at ``committee.yaml``, a copy of the
network's committee file (the one nodes read): the gateway re-reads it every
``--committee-refresh-seconds``, and the reconciler rewrites it as epochs change. Token
and owner secrets are mounted from the Secrets the spec names. ``/ready`` answers once
the committee is known and gates the Service; ``/health`` is the liveness probe;
``/metrics`` is on the same port. When the network's nodes serve TLS the pods mount the
network's client certificate Secret (`<network>-client-tls`: certificate, key and the
network CA) at ``/etc/walrus/tls``, ``client.yaml`` names those files, and the pod
template carries the certificate's digest so that a re-issued certificate rolls the pods.
Gateway pods carry the network's client label, which its NetworkPolicy admits. With
autoscaling, the Deployment leaves ``replicas`` to the HPA. Pure; called by the gateway
reconciler and the golden tests.
"""

from __future__ import annotations

import typing

from walrus_operator import gateway_models, naming
from walrus_operator.builders import network_policy

__all__ = ["CONFIG_DIR", "PORT", "TLS_DIR", "ClientTls", "build_children", "labels"]

PORT = 31415
"""The gateway's port in the pod (Walrus's daemon port)."""
CONFIG_DIR = "/etc/walrus/gateway"
TLS_DIR = "/etc/walrus/tls"
"""The network's client certificate Secret (`tls.crt`, `tls.key`, `ca.crt`), read-only."""
_JWT_DIR = "/etc/walrus/jwt"
_OWNER_DIR = "/etc/walrus/owner"
_RUN_AS = 65532
_Obj = dict[str, typing.Any]


class ClientTls(typing.NamedTuple):
    """The network's client certificate, as the gateway's pods use it."""

    secret_name: str
    """`<network>-client-tls` (naming.client_tls_secret_name)."""
    certificate_sha256: str
    """Digest of its `tls.crt`: the pod template changes when the certificate does."""


def config_map_name(gateway: str) -> str:
    return f"{gateway}-gateway-client"


def labels(gw: gateway_models.WalrusGateway) -> dict[str, str]:
    return {
        **_selector(gw),
        "app.kubernetes.io/component": "gateway",
        "app.kubernetes.io/part-of": "walrus",
        "app.kubernetes.io/managed-by": naming.MANAGED_BY,
        naming.LABEL_NETWORK: gw.spec.network_ref.name,
    }


def _selector(gw: gateway_models.WalrusGateway) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "walrus-gateway",
        "app.kubernetes.io/instance": gw.metadata.name,
    }


def _meta(gw: gateway_models.WalrusGateway, name: str) -> _Obj:
    return {
        "name": name,
        "namespace": gw.metadata.namespace,
        "labels": labels(gw),
        "ownerReferences": [
            {
                "apiVersion": naming.GROUP_VERSION,
                "kind": "WalrusGateway",
                "name": gw.metadata.name,
                "uid": gw.metadata.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def _config_map(
    gw: gateway_models.WalrusGateway, committee_file: str, tls: ClientTls | None
) -> _Obj:
    client = "committee_file: committee.yaml\n"
    if tls is not None:
        # The network's client certificate: the gateway verifies every node against the
        # network CA under the node's committee name, and presents it to the nodes.
        client += (
            f"tls_ca_file: {TLS_DIR}/ca.crt\n"
            f"tls_cert_file: {TLS_DIR}/tls.crt\n"
            f"tls_key_file: {TLS_DIR}/tls.key\n"
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(gw, config_map_name(gw.metadata.name)),
        "data": {"client.yaml": client, "committee.yaml": committee_file},
    }


def _args(gw: gateway_models.WalrusGateway) -> list[str]:
    spec = gw.spec
    args = ["--config", f"{CONFIG_DIR}/client.yaml", "gateway", "--host", "$(POD_IP)"]
    args += ["--port", str(PORT)]
    if spec.aggregator:
        args.append("--aggregator")
    if spec.publisher:
        args.append("--publisher")
    args += ["--cache-bytes", str(spec.cache_bytes)]
    args += ["--max-body-bytes", str(spec.max_body_bytes)]
    args += ["--max-concurrent-uploads", str(spec.max_concurrent_uploads)]
    args += ["--max-epochs", str(spec.max_epochs)]
    if spec.jwt is not None:
        args += ["--jwt-key-file", f"{_JWT_DIR}/{spec.jwt.secret_ref.key}"]
        args += ["--jwt-algorithm", spec.jwt.algorithm]
        args += ["--jwt-expiring-seconds", str(spec.jwt.expiring_seconds)]
    if spec.owner_secret_ref is not None:
        args += ["--owner-key-file", f"{_OWNER_DIR}/{spec.owner_secret_ref.key}"]
    return args


def _volumes(
    gw: gateway_models.WalrusGateway, tls: ClientTls | None
) -> tuple[list[_Obj], list[_Obj]]:
    spec = gw.spec
    volumes: list[_Obj] = [
        {"name": "client", "configMap": {"name": config_map_name(gw.metadata.name)}}
    ]
    mounts: list[_Obj] = [{"name": "client", "mountPath": CONFIG_DIR, "readOnly": True}]
    if tls is not None:
        volumes.append(
            {"name": "tls", "secret": {"secretName": tls.secret_name, "defaultMode": 0o440}}
        )
        mounts.append({"name": "tls", "mountPath": TLS_DIR, "readOnly": True})
    for name, ref, path in (
        ("jwt", spec.jwt.secret_ref if spec.jwt else None, _JWT_DIR),
        ("owner", spec.owner_secret_ref, _OWNER_DIR),
    ):
        if ref is None:
            continue
        volumes.append(
            {
                "name": name,
                "secret": {
                    "secretName": ref.name,
                    "items": [{"key": ref.key, "path": ref.key}],
                    "defaultMode": 0o440,
                },
            }
        )
        mounts.append({"name": name, "mountPath": path, "readOnly": True})
    return volumes, mounts


def _probe(path: str, period: int) -> _Obj:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


def _deployment(gw: gateway_models.WalrusGateway, image: str, tls: ClientTls | None) -> _Obj:
    spec = gw.spec
    volumes, mounts = _volumes(gw, tls)
    annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(PORT),
        "prometheus.io/path": "/metrics",
    }
    if tls is not None:
        # The gateway reads its certificate once, at start: a re-issued one (renewal, a
        # replaced CA) rolls the pods.
        annotations[naming.ANNOTATION_CERTIFICATE_SHA256] = tls.certificate_sha256
    container: _Obj = {
        "name": "gateway",
        "image": image,
        "command": ["walrus"],
        "args": _args(gw),
        # the pod's own address, as the nodes bind theirs (pods that share a network
        # namespace, as on the e2e kubelet stand-in, must not all take 0.0.0.0)
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": _probe("/ready", 5),
        "livenessProbe": _probe("/health", 10),
        "resources": spec.resources.model_dump(by_alias=True, exclude_defaults=True),
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if spec.image_pull_policy is not None:
        container["imagePullPolicy"] = spec.image_pull_policy
    deployment_spec: _Obj = {
        "selector": {"matchLabels": _selector(gw)},
        "template": {
            "metadata": {
                # The client label lets the pods through the network's NetworkPolicy.
                "labels": {**labels(gw), network_policy.LABEL_CLIENT: gw.spec.network_ref.name},
                "annotations": annotations,
            },
            "spec": {
                "containers": [container],
                "volumes": volumes,
                "terminationGracePeriodSeconds": 40,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": _RUN_AS,
                    "runAsGroup": _RUN_AS,
                    "fsGroup": _RUN_AS,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            },
        },
    }
    if spec.autoscaling is None:
        deployment_spec = {"replicas": spec.replicas, **deployment_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(gw, gw.metadata.name),
        "spec": deployment_spec,
    }


def _service(gw: gateway_models.WalrusGateway) -> _Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(gw, gw.metadata.name),
        "spec": {
            "selector": _selector(gw),
            "ports": [
                {
                    "name": "http",
                    "port": 80,
                    "targetPort": "http",
                    "protocol": "TCP",
                    "appProtocol": "http",
                }
            ],
        },
    }


def _ingress(gw: gateway_models.WalrusGateway, ingress: gateway_models.Ingress) -> _Obj:
    meta = _meta(gw, gw.metadata.name)
    if ingress.annotations:
        meta["annotations"] = dict(ingress.annotations)
    spec: _Obj = {
        "rules": [
            {
                "host": ingress.host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {"name": gw.metadata.name, "port": {"name": "http"}}
                            },
                        }
                    ]
                },
            }
        ]
    }
    if ingress.class_name is not None:
        spec = {"ingressClassName": ingress.class_name, **spec}
    if ingress.tls_secret_name is not None:
        spec["tls"] = [{"hosts": [ingress.host], "secretName": ingress.tls_secret_name}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def _autoscaler(gw: gateway_models.WalrusGateway, scaling: gateway_models.Autoscaling) -> _Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(gw, gw.metadata.name),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": gw.metadata.name,
            },
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scaling.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }


def build_children(
    gw: gateway_models.WalrusGateway,
    *,
    image: str,
    committee_file: str,
    tls: ClientTls | None,
) -> list[_Obj]:
    """Every object the gateway needs, in apply order. ``tls``: the network's client
    certificate when its nodes serve TLS, None when they are plaintext."""
    children = [
        _config_map(gw, committee_file, tls),
        _deployment(gw, image, tls),
        _service(gw),
    ]
    if gw.spec.ingress is not None:
        children.append(_ingress(gw, gw.spec.ingress))
    if gw.spec.autoscaling is not None:
        children.append(_autoscaler(gw, gw.spec.autoscaling))
    return children
