"""A real Kubernetes control plane on loopback for the e2e tests: binaries built from the
Go module k8s.io/kubernetes (`install.sh`), certificates (`pki`), process hygiene
(`process`) and the cluster itself (`cluster`)."""
