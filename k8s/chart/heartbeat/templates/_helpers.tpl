{{/* Labels of every object: kustomize's (k8s/components/heartbeat) plus Helm's own. */}}
{{- define "heartbeat.labels" -}}
app.kubernetes.io/name: heartbeat
app.kubernetes.io/part-of: heartbeat
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The labels kustomize adds to objects that carry no name label of their own. */}}
{{- define "heartbeat.commonLabels" -}}
app.kubernetes.io/part-of: heartbeat
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* heartbeat's image: repository (required), then @digest or :tag (default: appVersion). */}}
{{- define "heartbeat.image" -}}
{{- $repo := required "image.repository is required: no registry publishes heartbeat; build the Dockerfile, push it and pass --set image.repository=registry.example.com/heartbeat" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{ $repo }}@{{ .Values.image.digest }}
{{- else -}}
{{ $repo }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}
