"""The operator's admin identity: one Ed25519 key per namespace, kept in a Secret.

Nodes only obey `Admin` calls (SetCommittee, GetSyncStatus) signed by a key listed in
their node.yaml `admin_public_keys`. The operator makes its key the first time it needs
one in a namespace, in the Secret `walrus-operator-admin` (key `admin.key`, PKCS#8 PEM),
and never replaces it: an existing Secret is always read, never overwritten, so the key
survives operator restarts and upgrades. The node reconciler puts the public half into
every node's node.yaml; the epoch controller signs with the private half.

Keys are cached per namespace for `ttl` seconds, so a pass costs no API call. Called by
`walrus_operator.nodes` and `walrus_operator.epochs`; built in `handlers`.
"""

from __future__ import annotations

import base64
import collections.abc
import time

from walrus_node.protocol import keys as node_keys
from walrus_operator import errors, keys, kube, naming
from walrus_operator.builders import secret

__all__ = ["AdminKeys"]


class AdminKeys:
    def __init__(
        self,
        api: kube.Kube,
        *,
        ttl: float = 60.0,
        clock: collections.abc.Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = api
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, node_keys.KeyPair]] = {}

    async def key(self, namespace: str) -> node_keys.KeyPair:
        """The admin key of `namespace`, creating its Secret if there is none."""
        cached = self._cache.get(namespace)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        pair = await self._load(namespace)
        if pair is None:
            created = await self._kube.create(
                secret.build_admin_secret(namespace, keys.generate_private_key_pem())
            )
            pair = await self._load(namespace)  # ours, or the one that won a race
            if pair is None:
                raise errors.KubeError(
                    f"Secret {namespace}/{naming.ADMIN_SECRET} "
                    f"{'was created but cannot be read' if created else 'cannot be created'}"
                )
        self._cache[namespace] = (self._clock(), pair)
        return pair

    async def public_key(self, namespace: str) -> str:
        """Base64 of the raw public key, as node.yaml `admin_public_keys` lists it."""
        return node_keys.encode_public_key((await self.key(namespace)).public_key)

    async def _load(self, namespace: str) -> node_keys.KeyPair | None:
        found = await self._kube.get(kube.Kind.SECRET, naming.ADMIN_SECRET, namespace)
        if found is None:
            return None
        encoded = (found.get("data") or {}).get(naming.ADMIN_KEY_FILE)
        field = f"Secret {namespace}/{naming.ADMIN_SECRET} key {naming.ADMIN_KEY_FILE}"
        if not isinstance(encoded, str):
            raise errors.SpecInvalid(field, "is missing")
        try:
            return node_keys.KeyPair.from_pem(base64.b64decode(encoded))
        except (ValueError, TypeError) as exc:
            raise errors.SpecInvalid(field, f"is not an Ed25519 PKCS#8 PEM key: {exc}") from exc
