"""When a certificate must be (re-)issued: a pure decision over what a Secret holds.

The operator keeps, per network, a CA and, signed by it, one certificate per node and one
for itself (`walrus_operator.tls_secrets`). Each pass it reads the Secret and asks
`decide`, which answers None (keep it) or the reason to issue a new one:

1. `MISSING`: no Secret, or no certificate in it;
2. `UNREADABLE`: the certificate or key does not parse, or the key is not the
   certificate's;
3. `ISSUER_CHANGED`: it was not signed by the network's current CA (the CA Secret was
   replaced), or the Secret's `ca.crt` is not that CA;
4. `NAMES_CHANGED`: its DNS names are not the ones wanted (a node's name is its identity
   in the committee, and peers verify it);
5. `NOT_YET_VALID`: it starts in the future (a clock that jumped back when it was made);
6. `EXPIRING`: less than `renew_before` is left (rotation: the node reloads the files
   the kubelet refreshes in its mounted Secret, so nothing restarts).

The first that applies wins. No clock, no I/O, no cryptography: facts in, a reason out;
property-tested. Called by `walrus_operator.tls_secrets`.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum

__all__ = ["Facts", "Reason", "decide"]


class Reason(enum.StrEnum):
    MISSING = "Missing"
    UNREADABLE = "Unreadable"
    ISSUER_CHANGED = "IssuerChanged"
    NAMES_CHANGED = "NamesChanged"
    NOT_YET_VALID = "NotYetValid"
    EXPIRING = "Expiring"


@dataclasses.dataclass(frozen=True)
class Facts:
    """What a certificate Secret holds, as far as the decision needs it."""

    not_before: datetime.datetime
    not_after: datetime.datetime
    dns_names: frozenset[str]
    issuer_key_id: str
    """Hex authority key identifier of the certificate (which CA key signed it)."""
    bundled_ca_key_id: str
    """Hex subject key identifier of the `ca.crt` stored beside it ("" if none)."""
    key_matches: bool
    """The private key in the Secret is the certificate's."""


def decide(
    facts: Facts | None,
    *,
    readable: bool = True,
    names: frozenset[str],
    ca_key_id: str,
    now: datetime.datetime,
    renew_before: datetime.timedelta,
) -> Reason | None:
    """None to keep the certificate, else why to issue a new one (steps in the docstring)."""
    if not readable:
        return Reason.UNREADABLE
    if facts is None:
        return Reason.MISSING
    if not facts.key_matches:
        return Reason.UNREADABLE
    if facts.issuer_key_id != ca_key_id or facts.bundled_ca_key_id != ca_key_id:
        return Reason.ISSUER_CHANGED
    if facts.dns_names != names:
        return Reason.NAMES_CHANGED
    if facts.not_before > now:
        return Reason.NOT_YET_VALID
    if facts.not_after - now < renew_before:
        return Reason.EXPIRING
    return None
