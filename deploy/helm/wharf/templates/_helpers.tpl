{{- define "wharf.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "wharf.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "wharf.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wharf.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The environment every Wharf container gets: settings from the ConfigMap, secrets from Secrets. */}}
{{- define "wharf.env" -}}
{{- $secrets := printf "%s-secrets" (include "wharf.fullname" .) -}}
{{- $evaluation := printf "%s-evaluation" (include "wharf.fullname" .) -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- if .Values.evaluation.enabled }}
      name: {{ $evaluation }}
      key: database-url
      {{- else }}
      name: {{ .Values.database.existingSecret | default $secrets }}
      key: {{ if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}database-url{{ end }}
      {{- end }}
{{- if eq .Values.storage.backend "s3" }}
- name: WHARF_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ if .Values.evaluation.enabled }}{{ $evaluation }}{{ else }}{{ .Values.storage.s3.existingSecret | default $secrets }}{{ end }}
      key: access-key-id
- name: WHARF_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ if .Values.evaluation.enabled }}{{ $evaluation }}{{ else }}{{ .Values.storage.s3.existingSecret | default $secrets }}{{ end }}
      key: secret-access-key
{{- end }}
{{- if or .Values.mail.smtpUrl .Values.mail.existingSecret }}
- name: WHARF_SMTP_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.mail.existingSecret | default (printf "%s-secrets" (include "wharf.fullname" .)) }}
      key: smtp-url
{{- end }}
{{- end -}}
