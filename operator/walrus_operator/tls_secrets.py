"""The TLS Secrets of a network, kept current: its CA, each node's certificate, and the
operator's client certificate (docs/operator.md, "TLS"; the node side is
docs/node-runtime.md).

- `<network>-ca` (`ca.crt`, `ca.key`): made the first time a pass needs it, then only
  read. Whoever creates it first wins (a create that finds it existing reads it back).
- `<node>-tls` (`tls.crt`, `tls.key`, `ca.crt`; type `kubernetes.io/tls`): the node's
  certificate, DNS names: the node's name (its committee name, which peers verify) and
  its pod's DNS name. Mounted read-only at `/etc/walrus/tls`.
- `<network>-operator-tls`: the operator's client certificate for the network's nodes.
- `<network>-client-tls`: the network's client certificate, for gateways and users (a
  node with TLS requires every caller to present one, docs/security.md).

Each pass reads the Secret and asks `certificate_plan.decide`; a certificate that is
missing, unreadable, from another CA, for other names or within
`certificate_renew_days` of expiry is re-issued and written over the Secret (the kubelet
refreshes the mounted files, the node reloads them: no restart). A malformed CA Secret
is `errors.SpecInvalid` naming it, reported as a condition and re-checked next pass.

Called by `walrus_operator.nodes` and `walrus_operator.networks`; built in `handlers`.
"""

from __future__ import annotations

import base64
import collections.abc
import dataclasses
import datetime
import typing

from walrus_operator import (
    certificate_plan,
    certificates,
    errors,
    kube,
    naming,
    nodeclient,
    settings,
)
from walrus_operator.builders import secret

__all__ = ["CLIENT_NAME", "OPERATOR_NAME", "TlsSecrets", "node_names"]

OPERATOR_NAME = "walrus-operator"
"""Common name and DNS name of the operator's client certificate."""
CLIENT_NAME = "walrus-client"
"""Common name and DNS name of the network's client certificate (gateways, users)."""

Body = collections.abc.Mapping[str, typing.Any]


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def node_names(node: str, namespace: str, cluster_domain: str) -> tuple[str, ...]:
    """The DNS names of a node's certificate: its committee name first, then its pod's."""
    return (
        node,
        f"{naming.pod_name(node)}.{naming.service_name(node)}.{namespace}.svc.{cluster_domain}",
    )


def _data(body: Body | None, key: str) -> bytes:
    value = ((body or {}).get("data") or {}).get(key)
    if not isinstance(value, str):
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return b""


@dataclasses.dataclass
class TlsSecrets:
    kube: kube.Kube
    settings: settings.OperatorSettings
    clock: collections.abc.Callable[[], datetime.datetime] = _utc_now
    ca_days: float = 3650.0
    """Lifetime of a network CA. Replacing a CA is by hand (docs/operator.md, "TLS")."""

    async def authority(
        self, namespace: str, network: str, network_uid: str
    ) -> certificates.Authority:
        """The network's CA, made and stored the first time."""
        name = naming.ca_secret_name(network)
        found = await self.kube.get(kube.Kind.SECRET, name, namespace)
        if found is None:
            made = certificates.make_authority(network, now=self.clock(), days=self.ca_days)
            body = secret.build_ca_secret(
                namespace, network, network_uid, made.certificate_pem, made.key_pem
            )
            if await self.kube.create(body) is not None:
                return made
            found = await self.kube.get(kube.Kind.SECRET, name, namespace)
            if found is None:
                raise errors.KubeError(f"Secret {namespace}/{name} cannot be created")
        try:
            return certificates.load_authority(_data(found, "ca.crt"), _data(found, "ca.key"))
        except errors.SpecInvalid as problem:
            raise errors.SpecInvalid(
                f"Secret {namespace}/{name} key {problem.field}", problem.reason_message
            ) from problem

    async def ensure(
        self,
        namespace: str,
        secret_name: str,
        *,
        authority: certificates.Authority,
        network: str,
        owner: tuple[str, str, str],
        names: tuple[str, ...],
        server: bool,
    ) -> certificate_plan.Reason | None:
        """Issue the certificate Secret `secret_name` if `certificate_plan.decide` says so;
        returns the reason it was issued (None: kept)."""
        existing = await self.kube.get(kube.Kind.SECRET, secret_name, namespace)
        now = self.clock()
        facts: certificate_plan.Facts | None = None
        readable = True
        if existing is not None and _data(existing, "tls.crt"):
            try:
                facts = certificates.facts(
                    _data(existing, "tls.crt"),
                    _data(existing, "tls.key"),
                    _data(existing, "ca.crt"),
                )
            except errors.SpecInvalid:
                readable = False
        reason = certificate_plan.decide(
            facts,
            readable=readable,
            names=frozenset(names),
            ca_key_id=authority.key_id,
            now=now,
            renew_before=datetime.timedelta(days=self.settings.certificate_renew_days),
        )
        if reason is None:
            return None
        certificate, key = certificates.issue(
            authority,
            names[0],
            names,
            now=now,
            days=self.settings.certificate_validity_days,
            server=server,
        )
        body = secret.build_tls_secret(
            namespace, secret_name, network, owner, (certificate, key, authority.certificate_pem)
        )
        if existing is None and await self.kube.create(body) is not None:
            return reason
        await self.kube.merge_patch(
            kube.Kind.SECRET, secret_name, namespace, {"data": body["data"]}
        )
        return reason

    async def operator_credentials(
        self, namespace: str, network: str
    ) -> nodeclient.ChannelTls | None:
        """The operator's mutual-TLS material for `network`'s nodes, None until its Secret
        exists (the network reconciler makes it before each epoch pass)."""
        found = await self.kube.get(
            kube.Kind.SECRET, naming.operator_tls_secret_name(network), namespace
        )
        material = [_data(found, key) for key in ("ca.crt", "tls.crt", "tls.key")]
        if found is None or not all(material):
            return None
        return nodeclient.ChannelTls(*material)
