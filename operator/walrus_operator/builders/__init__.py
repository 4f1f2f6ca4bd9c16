"""Pure builders of the Kubernetes objects behind the custom resources.

Every function here takes typed models and plain values and returns plain dicts, the
objects exactly as they will be applied: no I/O, no clock, no randomness, no Kopf, no
settings singleton. That is what the golden tests (`tests/unit/operator/data/`) pin down.

- `context`: `NodeContext`, everything a WalrusNode's children depend on.
- `metadata`: owner references and object metadata shared by all children.
- `statefulset`, `service`, `configmap`, `secret`, `disruption`: one child kind each.
- `children`: all of a WalrusNode's children, in apply order.
- `pool`: the WalrusNodes a WalrusNodePool stamps out.
"""
