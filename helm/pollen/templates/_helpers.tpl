{{/* Object names: "<release>-<chart>" unless overridden, cut to 63 characters (DNS labels). */}}
{{- define "pollen.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pollen.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "pollen.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "pollen.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "agent"). */}}
{{- define "pollen.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pollen.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "pollen.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Where agents and seed peers find the schedulers: the headless Service's name resolves to every scheduler pod. */}}
{{- define "pollen.schedulerAddresses" -}}
{{- if .Values.scheduler.enable -}}
{{- list (printf "%s-scheduler.%s.svc.%s:%d" (include "pollen.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.scheduler.port)) | toJson -}}
{{- else -}}
{{- .Values.scheduler.externalAddresses | toJson -}}
{{- end -}}
{{- end -}}

{{/*
The agent's dfdaemon.yaml as a dict: agent.config with the keys the chart owns (paths inside the pod, the socket
mode, the schedulers). Each container port and probe of the chart is read from this dict, so none can differ
from the port the agent listens on.
*/}}
{{- define "pollen.agentConfig" -}}
{{- $mode := .Values.agent.socket.mode -}}
{{- if or (not (kindIs "string" $mode)) (not (regexMatch "^0?[0-7]{3}$" (toString $mode))) -}}
{{- fail (printf "agent.socket.mode: %v (expected: a quoted octal mode such as \"0660\"; unquoted, YAML reads 0660 as a number)" $mode) -}}
{{- end -}}
{{- $owned := dict
  "download" (dict "server" (dict "socketPath" "/var/run/pollen/dfdaemon.sock" "socketMode" (toString .Values.agent.socket.mode)))
  "storage" (dict "dir" "/var/lib/pollen")
  "scheduler" (dict "addresses" (include "pollen.schedulerAddresses" . | fromJsonArray)) -}}
{{- if .Values.tls.enable -}}
{{- $files := dict "caCert" "/etc/pollen/tls/ca.crt" "cert" "/etc/pollen/tls/tls.crt" "key" "/etc/pollen/tls/tls.key" -}}
{{- $_ := set $owned "upload" (dict "server" (deepCopy $files) "client" (deepCopy $files)) -}}
{{- $_ = set (get $owned "scheduler") "tls" true -}}
{{- end -}}
{{- mergeOverwrite (deepCopy .Values.agent.config) $owned | toYaml -}}
{{- end -}}

{{/* The seed peers' dfdaemon.yaml: the agent's, then seedPeer.config, then seedPeer.enable and no mirror. */}}
{{/*
Sets every leaf of a map into another, recursing into maps both have: (list DST SRC). Sprig's mergeOverwrite
would skip false, 0 and "" (they count as empty), so a seed could not turn off what the agents turn on.
*/}}
{{- define "pollen.deepSet" -}}
{{- $dst := index . 0 -}}
{{- range $k, $v := index . 1 -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $dst $k)) -}}
{{- include "pollen.deepSet" (list (get $dst $k) $v) -}}
{{- else -}}
{{- $_ := set $dst $k $v -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* (set, not a merge, for the same reason.) */}}
{{- define "pollen.seedPeerConfig" -}}
{{- $seed := include "pollen.agentConfig" . | fromYaml -}}
{{- $_ := include "pollen.deepSet" (list $seed (deepCopy .Values.seedPeer.config)) -}}
{{- $seedPeer := get $seed "seedPeer" | default (dict) -}}
{{- $_ = set $seedPeer "enable" true -}}
{{- $_ = set $seed "seedPeer" $seedPeer -}}
{{- $proxy := get $seed "proxy" | default (dict) -}}
{{- $proxyServer := get $proxy "server" | default (dict) -}}
{{- $_ = set $proxyServer "enable" false -}}
{{- $_ = set $proxy "server" $proxyServer -}}
{{- $_ = set $seed "proxy" $proxy -}}
{{- $seed | toYaml -}}
{{- end -}}

{{/*
The JVM flags of a Pollen container: the heap's ceiling a share of the memory limit (the launchers then drop their
fixed -Xmx), then the user's. "fixed": the whole heap from the start, as the scheduler's launcher does (-Xms = -Xmx).
(dict "percent" N "fixed" BOOL "extra" S)
*/}}
{{- define "pollen.javaOpts" -}}
{{- $initial := ternary (printf "-XX:InitialRAMPercentage=%v " .percent) "" (default false .fixed) -}}
{{- printf "%s-XX:MaxRAMPercentage=%v %s" $initial .percent (default "" .extra) | trim -}}
{{- end -}}

{{/* Fails the render when a memory request differs from its limit: the heap is a share of the limit. */}}
{{- define "pollen.checkMemory" -}}
{{- $r := .resources -}}
{{- if not (and $r.requests $r.limits $r.requests.memory $r.limits.memory) -}}
{{- fail (printf "%s.resources: requests.memory and limits.memory are both needed (the JVM heap is a share of the limit)" .name) -}}
{{- end -}}
{{- if ne (toString $r.requests.memory) (toString $r.limits.memory) -}}
{{- fail (printf "%s.resources: requests.memory %s differs from limits.memory %s (fix: make them equal: the heap is sized from the limit, and a request below it lets the node overcommit the agent's memory)" .name (toString $r.requests.memory) (toString $r.limits.memory)) -}}
{{- end -}}
{{- end -}}

{{- define "pollen.tlsVolume" -}}
{{- if .Values.tls.enable }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
{{- end }}
{{- end -}}

{{- define "pollen.tlsMount" -}}
{{- if .Values.tls.enable }}
- name: tls
  mountPath: /etc/pollen/tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* The container security context of every Pollen daemon: no privileges, a read-only root filesystem. */}}
{{- define "pollen.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/*
Startup and readiness probes GET /healthy (every server up, storage writable), liveness GET /livez (only a wedged
process fails it: a restart would not help a starting, stopping or full one), on a named port.
(dict "port" NAME "probes" .Values.probes)
*/}}
{{- define "pollen.probes" -}}
{{- $paths := dict "startup" "/healthy" "readiness" "/healthy" "liveness" "/livez" }}
{{- range $kind := list "startup" "readiness" "liveness" }}
{{ $kind }}Probe:
  httpGet:
    path: {{ get $paths $kind }}
    port: {{ $.port }}
  periodSeconds: {{ (get $.probes $kind).periodSeconds }}
  failureThreshold: {{ (get $.probes $kind).failureThreshold }}
{{- end }}
{{- end -}}

{{/*
A pod that runs dfget as any pod wanting files through Pollen would: the node's socket directory mounted (the
directory, never the socket file), the socket's group among its groups, and the output written into the node's
output directory, mounted where the agent has it (the agent writes dfget's output file). (dict "ctx" $ "name" NAME "hook" BOOL)
*/}}
{{- define "pollen.dfgetPod" -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ .name }}
  labels:
    {{- include "pollen.labels" .ctx | nindent 4 }}
    app.kubernetes.io/component: test
  {{- if .hook }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation
  {{- end }}
spec:
  restartPolicy: Never
  {{- with .ctx.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    supplementalGroups: [{{ int .ctx.Values.agent.socket.group }}]
  containers:
    - name: dfget
      image: {{ include "pollen.image" .ctx }}
      imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
      command:
        - /opt/pollen/bin/dfget
        - {{ .ctx.Values.tests.url | quote }}
        - --output={{ .ctx.Values.agent.outputDir }}/{{ .name }}.out
        - --overwrite
        - --endpoint=/var/run/pollen/dfdaemon.sock
        - --no-progress
      securityContext:
        {{- include "pollen.securityContext" .ctx | nindent 8 }}
      volumeMounts:
        - name: socket-dir
          mountPath: /var/run/pollen
        - name: output
          mountPath: {{ .ctx.Values.agent.outputDir }}
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: socket-dir
      hostPath:
        path: {{ .ctx.Values.agent.socketDir }}
        type: Directory
    # The agent writes dfget's output file: into the node's output directory, at the same path in both pods.
    - name: output
      hostPath:
        path: {{ .ctx.Values.agent.outputDir }}
        type: Directory
    - name: tmp
      emptyDir: {}
{{- end -}}
