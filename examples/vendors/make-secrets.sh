#!/usr/bin/env bash
# Writes secrets.yaml beside this script from ANTHROPIC_API_KEY, OPENAI_API_KEY and
# GEMINI_API_KEY, plus a fresh gateway key for the ApiKey `team-a`, which it prints once.
# Then: bytespike-gateway --config examples/vendors
set -euo pipefail
cd "$(dirname "$0")"
gateway_key="bsk-$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
umask 077
cat >secrets.yaml <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: vendor-credentials
stringData:
  anthropic: "${ANTHROPIC_API_KEY:?set ANTHROPIC_API_KEY}"
  openai: "${OPENAI_API_KEY:?set OPENAI_API_KEY}"
  gemini: "${GEMINI_API_KEY:?set GEMINI_API_KEY}"
---
apiVersion: v1
kind: Secret
metadata:
  name: team-a-key
stringData:
  key: "$gateway_key"
YAML
echo "wrote $(pwd)/secrets.yaml; the gateway key of team-a is: $gateway_key"
