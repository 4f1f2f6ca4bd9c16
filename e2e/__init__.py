"""End-to-end tests and the infrastructure they run on: a local Kubernetes control plane
(`e2e.controlplane`) and a kubelet stand-in that runs pods as local processes
(`e2e.kubelet`). Separate from the product; nothing in `walrus_node` or
`walrus_operator` imports it."""
