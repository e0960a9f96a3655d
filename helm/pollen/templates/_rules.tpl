{{/*
Pollen's alerts, as Prometheus rule groups (the PrometheusRule's spec; `promtool check rules` reads the same text).
The jobs are the ServiceMonitor's: one per Service, named after it.
*/}}
{{- define "pollen.ruleGroups" -}}
{{- $r := .Values.metrics.prometheusRule -}}
{{- $prefix := include "pollen.fullname" . -}}
groups:
  - name: pollen
    rules:
      - alert: PollenAgentDown
        expr: up{job=~"{{ $prefix }}-(agent|seed-peer)"} == 0
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: "Pollen agent {{ "{{" }} $labels.instance {{ "}}" }} is down"
          description: "Prometheus cannot scrape the agent at {{ "{{" }} $labels.instance {{ "}}" }}: its node pulls from the origin (or fails to pull) and serves no peer."
      - alert: PollenBackToSourceRatioHigh
        expr: |
          sum(rate(pollen_download_bytes_total{job=~"{{ $prefix }}-(agent|seed-peer)",source="origin"}[15m]))
            / sum(rate(pollen_download_bytes_total{job=~"{{ $prefix }}-(agent|seed-peer)"}[15m]))
            > {{ $r.backToSourceRatio }}
        for: {{ $r.for }}
        labels:
          severity: warning
        annotations:
          summary: "Pollen takes {{ "{{" }} $value | humanizePercentage {{ "}}" }} of its bytes from the origin"
          description: "Above {{ $r.backToSourceRatio }} of the downloaded bytes come from the origin: peers are not sharing (scheduler unreachable, peers refused, or every file new). pollen_back_to_source_total by reason says why."
      - alert: PollenDownloadFailureRateHigh
        expr: |
          sum(rate(pollen_downloads_total{job=~"{{ $prefix }}-(agent|seed-peer)",result="failure"}[15m]))
            / sum(rate(pollen_downloads_total{job=~"{{ $prefix }}-(agent|seed-peer)"}[15m]))
            > {{ $r.downloadFailureRatio }}
        for: {{ $r.for }}
        labels:
          severity: critical
        annotations:
          summary: "{{ "{{" }} $value | humanizePercentage {{ "}}" }} of Pollen downloads fail"
          description: "Above {{ $r.downloadFailureRatio }} of the downloads ended in failure; the agents' logs name each failure's cause."
      - alert: PollenDiskNearQuota
        expr: |
          pollen_storage_used_bytes{job=~"{{ $prefix }}-(agent|seed-peer)"}
            / pollen_storage_quota_bytes{job=~"{{ $prefix }}-(agent|seed-peer)"}
            > {{ $r.diskQuotaRatio }}
        for: {{ $r.for }}
        labels:
          severity: warning
        annotations:
          summary: "Pollen on {{ "{{" }} $labels.instance {{ "}}" }} uses {{ "{{" }} $value | humanizePercentage {{ "}}" }} of its disk quota"
          description: "Storage stays above {{ $r.diskQuotaRatio }} of gc.policy.diskQuota: garbage collection cannot free enough (tasks in use), or the quota is too small for the working set (fix: raise agent.config.gc.policy.diskQuota)."
{{- end -}}
