{{/*
heartbeat's pod template, shared by the Deployment (deployment.yaml) and the mesh's DaemonSet
(daemonset.yaml), as k8s/components/heartbeat/pod.yaml is shared by k8s/base and k8s/overlays/mesh;
the Fluent Bit sidecar as k8s/components/fluent-bit-sidecar/sidecar.yaml adds it. The comments there
say why each field is as it is.
*/}}
{{- define "heartbeat.podTemplate" -}}
template:
  metadata:
    labels:
      app.kubernetes.io/name: heartbeat
    annotations:
      kubectl.kubernetes.io/default-container: heartbeat
      prometheus.io/scrape: {{ .Values.config.metrics | toString | quote }}
      prometheus.io/port: {{ .Values.config.metricsPort | toString | quote }}
      prometheus.io/path: {{ .Values.config.metricsPath | default "/metrics" }}
      # a changed ConfigMap rolls the pods (kustomize does it with a hashed name)
      checksum/config: {{ include (print $.Template.BasePath "/configmaps.yaml") . | sha256sum }}
  spec:
    automountServiceAccountToken: false
    enableServiceLinks: false
    terminationGracePeriodSeconds: 30
    securityContext:
      seccompProfile:
        type: RuntimeDefault
    {{- if eq .Values.logShipper "sidecar" }}
    initContainers:
      - name: fluent-bit
        image: {{ printf "%s:%s" .Values.fluentBit.image.repository .Values.fluentBit.image.tag }}
        imagePullPolicy: IfNotPresent
        restartPolicy: Always
        {{- include "heartbeat.shipperEnv" (dict "configMap" "log-destination") | nindent 8 }}
        env:
          - name: POD_NAME
            valueFrom:
              fieldRef:
                fieldPath: metadata.name
          - name: POD_NAMESPACE
            valueFrom:
              fieldRef:
                fieldPath: metadata.namespace
          - name: POD_UID
            valueFrom:
              fieldRef:
                fieldPath: metadata.uid
          - name: NODE_NAME
            valueFrom:
              fieldRef:
                fieldPath: spec.nodeName
          - name: HEARTBEAT_LOG_PATH
            value: /var/log/heartbeat-pod/heartbeat/*.log*
          {{- include "heartbeat.shipperSecrets" . | nindent 10 }}
        ports:
          - name: fluent-bit
            containerPort: 2020
            protocol: TCP
        livenessProbe:
          httpGet:
            path: /api/v1/health
            port: 2020
          initialDelaySeconds: 10
          periodSeconds: 30
          timeoutSeconds: 5
          failureThreshold: 3
        resources:
          {{- toYaml .Values.fluentBit.resources | nindent 10 }}
        securityContext:
          runAsNonRoot: true
          runAsUser: 10001
          runAsGroup: 0
          readOnlyRootFilesystem: true
          allowPrivilegeEscalation: false
          capabilities:
            drop: ["ALL"]
          seccompProfile:
            type: RuntimeDefault
        volumeMounts:
          - name: fluent-bit-config
            mountPath: /fluent-bit/etc/
            readOnly: true
          - name: pod-logs
            mountPath: /var/log/heartbeat-pod
            subPathExpr: $(POD_NAMESPACE)_$(POD_NAME)_$(POD_UID)
            readOnly: true
          - name: fluent-bit-state
            mountPath: /var/fluent-bit
    {{- end }}
    containers:
      - name: heartbeat
        image: {{ include "heartbeat.image" . }}
        imagePullPolicy: {{ .Values.image.pullPolicy }}
        args: ["--config", "/etc/heartbeat/heartbeat.json"]
        {{- if or .Values.mesh.enabled .Values.env .Values.status.enabled }}
        env:
          {{- if .Values.status.enabled }}
          # the status page (k8s/components/status/pod.yaml): on, and who this pod is (the downward API)
          - name: HEARTBEAT_STATUS
            value: "true"
          - name: POD_NAME
            valueFrom:
              fieldRef:
                fieldPath: metadata.name
          - name: POD_NAMESPACE
            valueFrom:
              fieldRef:
                fieldPath: metadata.namespace
          - name: NODE_NAME
            valueFrom:
              fieldRef:
                fieldPath: spec.nodeName
          - name: POD_IP
            valueFrom:
              fieldRef:
                fieldPath: status.podIP
          {{- end }}
          {{- if .Values.mesh.enabled }}
          {{- if not .Values.status.enabled }}
          - name: POD_NAMESPACE
            valueFrom:
              fieldRef:
                fieldPath: metadata.namespace
          {{- end }}
          # every ready heartbeat of the mesh, through the headless Service heartbeat-peers
          - name: HEARTBEAT_PROBE_TARGETS
            value: http://heartbeat-peers.$(POD_NAMESPACE).svc.cluster.local:{{ .Values.config.port }}
          {{- end }}
          {{- range $name, $value := .Values.env }}
          - name: {{ $name }}
            value: {{ $value | quote }}
          {{- end }}
        {{- end }}
        ports:
          - name: http
            containerPort: {{ .Values.config.port }}
            protocol: TCP
          {{- if ne (toString .Values.config.udpEcho) "false" }}
          - name: udp-echo
            containerPort: {{ .Values.config.port }}
            protocol: UDP
          {{- end }}
          {{- if and (or .Values.config.metrics .Values.status.enabled) .Values.config.metricsPort }}
          - name: metrics
            containerPort: {{ .Values.config.metricsPort }}
            protocol: TCP
          {{- end }}
        startupProbe:
          httpGet:
            path: /readyz
            port: http
          periodSeconds: 1
          timeoutSeconds: 1
          failureThreshold: 30
        livenessProbe:
          httpGet:
            path: /healthz
            port: http
          {{- toYaml .Values.probes.liveness | nindent 10 }}
        readinessProbe:
          httpGet:
            path: /readyz
            port: http
          {{- toYaml .Values.probes.readiness | nindent 10 }}
        lifecycle:
          preStop:
            sleep:
              seconds: 5
        resources:
          {{- toYaml .Values.resources | nindent 10 }}
        securityContext:
          runAsNonRoot: true
          runAsUser: 65532
          runAsGroup: 65532
          readOnlyRootFilesystem: true
          allowPrivilegeEscalation: false
          capabilities:
            drop: ["ALL"]
          seccompProfile:
            type: RuntimeDefault
        volumeMounts:
          - name: config
            mountPath: /etc/heartbeat
            readOnly: true
    volumes:
      - name: config
        configMap:
          name: heartbeat-config
      {{- if eq .Values.logShipper "sidecar" }}
      - name: fluent-bit-config
        configMap:
          name: fluent-bit-config
      - name: pod-logs
        hostPath:
          path: /var/log/pods
          type: Directory
      - name: fluent-bit-state
        emptyDir:
          sizeLimit: 256Mi
      {{- end }}
{{- end -}}
