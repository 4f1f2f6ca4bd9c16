"""What the API server does with a custom resource, done offline for the unit tests.

- `structural_defaults`: apply the schema's `default`s (as the API server does before
  validation);
- `openapi_errors`: validate with `jsonschema`, after turning the structural schema into
  JSON Schema (x-kubernetes-* keywords dropped, `nullable` made explicit, and unknown
  fields refused where the API server would prune them, so a typo in a sample fails);
- `cel_errors`: evaluate every `x-kubernetes-validations` rule with cel-python, including
  transition rules against an old object, with Kubernetes' `quantity()` library.

Used by test_crds.py. The real API server remains the final word (e2e tier); this keeps the
rules honest without one.
"""

from __future__ import annotations

import copy
import functools
import pathlib
import typing

import celpy
import jsonschema
import yaml
from celpy import celtypes

from walrus_operator import quantity

ROOT = pathlib.Path(__file__).resolve().parents[3]
CRD_DIR = ROOT / "manifests" / "base" / "crds"
SAMPLES_DIR = ROOT / "manifests" / "samples"
KINDS = {
    "WalrusNetwork": "walrusnetworks",
    "WalrusNode": "walrusnodes",
    "WalrusNodePool": "walrusnodepools",
    "WalrusGateway": "walrusgateways",
}

Json = typing.Any


@functools.cache
def crd(kind: str) -> dict[str, Json]:
    loaded: dict[str, Json] = yaml.safe_load((CRD_DIR / f"{KINDS[kind]}.yaml").read_text())
    return loaded


def schema(kind: str) -> dict[str, Json]:
    result: dict[str, Json] = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return result


# --------------------------------------------------------------------------- defaults


def structural_defaults(node_schema: dict[str, Json], value: Json) -> Json:
    """A copy of `value` with the schema's defaults filled in, recursively."""
    value = copy.deepcopy(value)
    _default_into(node_schema, value)
    return value


def _default_into(node_schema: dict[str, Json], value: Json) -> None:
    if isinstance(value, dict):
        for name, sub in node_schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _default_into(sub, value[name])
        extra = node_schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in node_schema.get("properties", {}):
                    _default_into(extra, item)
    elif isinstance(value, list) and "items" in node_schema:
        for item in value:
            _default_into(node_schema["items"], item)


# --------------------------------------------------------------------------- OpenAPI


def to_json_schema(node_schema: dict[str, Json]) -> dict[str, Json]:
    out: dict[str, Json] = {}
    for key, sub in node_schema.items():
        if key.startswith("x-kubernetes-") or key in {"nullable", "default", "description"}:
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(s) for name, s in sub.items()}
        elif key in {"items", "additionalProperties"} and isinstance(sub, dict):
            out[key] = to_json_schema(sub)
        elif key == "anyOf":
            out[key] = [to_json_schema(s) for s in sub]
        else:
            out[key] = sub
    if node_schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    preserves = node_schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in node_schema and "additionalProperties" not in node_schema and not preserves:
        out["additionalProperties"] = False
    return out


def openapi_errors(kind: str, body: Json) -> list[str]:
    """`path: message` for each schema violation (the body's defaults already applied)."""
    root = to_json_schema(schema(kind))
    root["properties"].update(
        {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
        }
    )
    validator = jsonschema.Draft7Validator(root)
    return [
        ".".join(str(p) for p in error.absolute_path) + ": " + error.message
        for error in validator.iter_errors(body)
    ]


# --------------------------------------------------------------------------- CEL


class Quantity(celtypes.IntType):
    """A Kubernetes quantity in CEL, held exactly in milli-units."""


def _quantity(text: celtypes.StringType) -> Quantity:
    return Quantity(int(quantity.parse(str(text)) * 1000))


def _compare_to(left: Quantity, right: Quantity) -> celtypes.IntType:
    return celtypes.IntType((int(left) > int(right)) - (int(left) < int(right)))


FUNCTIONS = {
    "quantity": _quantity,
    "isQuantity": lambda text: celtypes.BoolType(quantity.is_quantity(str(text))),
    "compareTo": _compare_to,
    "isGreaterThan": lambda a, b: celtypes.BoolType(int(a) > int(b)),
    "isLessThan": lambda a, b: celtypes.BoolType(int(a) < int(b)),
}

_ENV = celpy.Environment()


@functools.cache
def _program(rule: str) -> celpy.Runner:
    return _ENV.program(_ENV.compile(rule), functions=FUNCTIONS)


_MISSING = object()


def cel_errors(kind: str, body: Json, old: Json = _MISSING) -> list[str]:
    """The messages of the rules `body` breaks; transition rules need `old`."""
    found: list[str] = []
    _cel_walk(schema(kind), body, old, found)
    return found


def _cel_walk(node_schema: dict[str, Json], value: Json, old: Json, found: list[str]) -> None:
    for rule in node_schema.get("x-kubernetes-validations", []):
        is_transition = "oldSelf" in rule["rule"]
        if is_transition and old is _MISSING:
            continue
        activation = {"self": celpy.json_to_cel(value)}
        if is_transition:
            activation["oldSelf"] = celpy.json_to_cel(old)
        try:
            result = _program(rule["rule"]).evaluate(activation)
        except celpy.CELEvalError as exc:  # the API server reports these as invalid too
            found.append(f"{rule.get('message', rule['rule'])} ({exc.args[0]})")
            continue
        if result != celtypes.BoolType(True):
            found.append(rule.get("message", rule["rule"]))
    if isinstance(value, dict):
        for name, sub in node_schema.get("properties", {}).items():
            if name in value:
                old_sub = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
                _cel_walk(sub, value[name], old_sub, found)
    elif isinstance(value, list) and "items" in node_schema:
        for item in value:
            _cel_walk(node_schema["items"], item, _MISSING, found)


def admit(kind: str, body: Json, old: Json = _MISSING) -> tuple[Json, list[str]]:
    """Default, then validate like the API server would: (defaulted body, error messages)."""
    defaulted = structural_defaults(schema(kind), body)
    old_defaulted = _MISSING if old is _MISSING else structural_defaults(schema(kind), old)
    return defaulted, openapi_errors(kind, defaulted) + cel_errors(kind, defaulted, old_defaulted)
