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

{{/*
The log shipper's destination, as the ConfigMap data it reads with envFrom (log-destination,
collector-log-destination): FLUENT_BIT_CONFIG names the file it runs (files/<shipper>.yaml for
forward, files/<shipper>-otlp.yaml for OTLP, as k8s/components/otlp switches them) and the rest
are that file's settings. Call with (dict "root" $ "shipper" "sidecar"|"collector").
*/}}
{{- define "heartbeat.logDestination" -}}
{{- $v := .root.Values -}}
{{- if eq $v.logs.destination "otlp" -}}
FLUENT_BIT_CONFIG: {{ printf "%s-otlp.yaml" .shipper }}
OTLP_HOST: {{ $v.logs.otlp.host | quote }}
OTLP_PORT: {{ $v.logs.otlp.port | quote }}
{{- with $v.logs.otlp.logsUri }}
OTLP_LOGS_URI: {{ . | quote }}
{{- end }}
OTLP_TLS: {{ ternary "on" "off" $v.logs.otlp.tls | quote }}
OTLP_TLS_VERIFY: {{ ternary "on" "off" $v.logs.otlp.tlsVerify | quote }}
OTLP_SERVICE_VERSION: {{ $v.image.tag | default .root.Chart.AppVersion | quote }}
{{- else -}}
FLUENT_BIT_CONFIG: {{ printf "%s.yaml" .shipper }}
FLUENT_FORWARD_HOST: {{ $v.fluentBit.forward.host | quote }}
FLUENT_FORWARD_PORT: {{ $v.fluentBit.forward.port | quote }}
FLUENT_FORWARD_TLS: {{ ternary "on" "off" $v.fluentBit.forward.tls | quote }}
FLUENT_FORWARD_TLS_VERIFY: {{ ternary "on" "off" $v.fluentBit.forward.tlsVerify | quote }}
{{- end -}}
{{- end -}}

{{/* The shipper's egress to its destination: the endpoint's namespace on its port (after the DNS rule). */}}
{{- define "heartbeat.destinationEgress" -}}
{{- $otlp := eq .Values.logs.destination "otlp" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ ternary .Values.logs.otlp.namespace .Values.fluentBit.aggregatorNamespace $otlp }}
  ports:
    - protocol: TCP
      port: {{ ternary .Values.logs.otlp.port .Values.fluentBit.forward.port $otlp }}
{{- end -}}

{{/* The shipper's args and environment: the file and settings of its destination, its Secrets. */}}
{{- define "heartbeat.shipperEnv" -}}
args: ["-c", "/fluent-bit/etc/$(FLUENT_BIT_CONFIG)"]
envFrom:
  - configMapRef:
      name: {{ .configMap }}
{{- end -}}

{{/* The Secrets the shipper may authenticate with (both optional). */}}
{{- define "heartbeat.shipperSecrets" -}}
- name: FLUENT_FORWARD_SHARED_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.fluentBit.forward.sharedKeySecret }}
      key: shared_key
      optional: true
- name: OTLP_HEADER
  valueFrom:
    secretKeyRef:
      name: {{ .Values.logs.otlp.headerSecret }}
      key: header
      optional: true
{{- end -}}
