{{/* Chart name, shortened to fit a DNS label. */}}
{{- define "piw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of every object of the release; the release name alone when it already says what it is. */}}
{{- define "piw.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "piw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "piw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "piw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "piw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "piw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "piw.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "piw.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret the server reads its serving certificate from (self mode: also writes it). */}}
{{- define "piw.tlsSecretName" -}}
{{- if eq .Values.certificates.mode "self" }}
{{- default (printf "%s-tls" (include "piw.fullname" .)) .Values.certificates.self.secretName }}
{{- else if eq .Values.certificates.mode "cert-manager" }}
{{- printf "%s-tls" (include "piw.fullname" .) }}
{{- else }}
{{- required "certificates.secret.name is required when certificates.mode is secret" .Values.certificates.secret.name }}
{{- end }}
{{- end }}

{{/* The mappings ConfigMap name is fixed: the server watches exactly this name, as the reference does. */}}
{{- define "piw.mappingsConfigMapName" -}}
pod-identity-webhook
{{- end }}

{{- define "piw.podIdentityConfigMapName" -}}
{{- printf "%s-pod-identities" (include "piw.fullname" .) }}
{{- end }}

{{- define "piw.podIdentityMountPath" -}}
/etc/pod-identity-webhook/pod-identity
{{- end }}

{{- define "piw.tlsMountPath" -}}
/etc/pod-identity-webhook/tls
{{- end }}

{{/* The metrics Service; with a ServiceMonitor, Prometheus names the scrape job after it. */}}
{{- define "piw.metricsServiceName" -}}
{{- printf "%s-metrics" (include "piw.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/* PromQL label matchers that pick this release's replicas out of everything Prometheus scrapes. */}}
{{- define "piw.metricsSelector" -}}
{{- default (printf "namespace=%q, job=%q" .Release.Namespace (include "piw.metricsServiceName" .)) .Values.metrics.prometheusRule.selector }}
{{- end }}
