#!/usr/bin/env bash
# Installs the service binaries the integration tests start themselves (idempotent; needs root and apt).
#   victoria-metrics: the Prometheus-compatible TSDB of tests/services/victoria.py
set -euo pipefail

missing=()
command -v victoria-metrics >/dev/null 2>&1 || missing+=(victoria-metrics)

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-services: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
