"""A kubelet stand-in for one fake Node: runs the project's pods as local processes.

The local control plane has no kubelet, no scheduler and no volume provisioner. This
package plays all three for the e2e tests, small and separate from the product:

- `node`: registers the Node and keeps it Ready (Lease and status heartbeats);
- `scheduler`: binds pending pods to that Node through the pods/binding subresource;
- `provisioner`: provisions, expands and deletes directory-backed PVs for its
  StorageClass;
- `pod`, `container`, `probes`, `status`: run each pod whose image is the project's node
  image as local processes, probe them and report the pod's status;
- `volumes`, `atomicdir`, `sandbox`, `envvars`, `addresses`, `hosts`: what a pod's
  processes see (volumes at their mount paths, environment, a loopback address of their
  own, the names of StatefulSet pods);
- `kubelet`: wires the above to watches of the API (`informer`).

Run it with `python -m e2e.kubelet --kubeconfig ... --state-dir ...`; the control plane
(`e2e.controlplane.cluster`) starts it for the tests.
"""
