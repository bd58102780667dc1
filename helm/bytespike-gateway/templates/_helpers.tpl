{{- define "bsg.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bsg.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bsg.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bsg.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bsg.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "bsg.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "bsg.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bsg.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Namespaces watched when not cluster-wide. */}}
{{- define "bsg.watchNamespaces" -}}
{{- if .Values.watch.namespaces -}}
{{- join "," .Values.watch.namespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "bsg.leaseName" -}}
{{- default (printf "%s-status" (include "bsg.fullname" .)) .Values.leaseName -}}
{{- end -}}

{{- define "bsg.replicas" -}}
{{- if .Values.autoscaling.enabled -}}{{ .Values.autoscaling.maxReplicas }}{{- else -}}{{ .Values.replicaCount }}{{- end -}}
{{- end -}}

{{/* Name and key of the Secret holding the Redis URL; empty when there is none. */}}
{{- define "bsg.redisSecret" -}}
{{- if .Values.redis.bundled.enabled -}}
{{- printf "%s-redis-url" (include "bsg.fullname" .) -}}
{{- else -}}
{{- .Values.redis.external.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "bsg.redisSecretKey" -}}
{{- if .Values.redis.bundled.enabled -}}url{{- else -}}{{ .Values.redis.external.secretKey }}{{- end -}}
{{- end -}}

{{/* The RBAC rules of deploy/rbac.yaml (same for the Role and the ClusterRole). */}}
{{- define "bsg.watchRules" -}}
- apiGroups: [gateway.bytespike.ai]
  resources: [providers, routinggroups, apikeys]
  verbs: [get, list, watch]
- apiGroups: [gateway.bytespike.ai]
  resources: [providers/status, routinggroups/status, apikeys/status]
  verbs: [update, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
