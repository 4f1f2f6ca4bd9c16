{{- define "walrus-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "walrus-operator.selectorLabels" -}}
app.kubernetes.io/name: walrus-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "walrus-operator.labels" -}}
{{ include "walrus-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: walrus
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "walrus-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "walrus-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Rules on namespaced objects: the same in a ClusterRole or a per-namespace Role. */}}
{{- define "walrus-operator.namespacedRules" -}}
- apiGroups: [walrus-k8s.io]
  resources: [walrusnetworks, walrusnodepools]
  verbs: [get, list, watch, patch]
- apiGroups: [walrus-k8s.io]
  resources: [walrusnodes]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [walrus-k8s.io]
  resources: [walrusnetworks/status, walrusnodes/status, walrusnodepools/status]
  verbs: [get, patch]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, create, patch]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, create, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, patch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, create, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, create, patch, delete]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, patch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create]
- apiGroups: [walrus-k8s.io]
  resources: [walrusgateways]
  verbs: [get, list, watch, patch]
- apiGroups: [walrus-k8s.io]
  resources: [walrusgateways/status]
  verbs: [get, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, create, patch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, create, patch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, create, patch]
{{- end -}}

{{/* Rules on cluster-scoped objects, always in a ClusterRole. */}}
{{- define "walrus-operator.clusterRules" -}}
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get]
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end -}}


{{/* The namespaces the operator watches: none listed = all (cluster-wide), else the
     listed ones, else the release's own. */}}
{{- define "walrus-operator.namespaces" -}}
{{- if .Values.rbac.clusterWide -}}
{{- if .Values.watchNamespaces -}}
{{- fail "rbac.clusterWide and watchNamespaces cannot be combined" -}}
{{- end -}}
{{- else if .Values.watchNamespaces -}}
{{- join "," .Values.watchNamespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}
