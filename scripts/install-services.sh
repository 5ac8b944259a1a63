#!/usr/bin/env bash
# Installs the service binaries the integration tests start themselves (idempotent; needs root and apt).
#   victoria-metrics: the Prometheus-compatible TSDB of tests/services/victoria.py
#   etcd-server: the hash ring's membership store of tests/services/etcd.py (the tests start their own)
#   chromium: the headless browser of tests/e2e/test_status_page.py (Playwright drives Debian's build; it
#             downloads no browser of its own)
#   prometheus: only for its promtool, which checks deploy/prometheus/*.yml (tests/test_deploy.py)
set -euo pipefail

missing=()
command -v victoria-metrics >/dev/null 2>&1 || missing+=(victoria-metrics)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-services: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    # where systemd runs, the package starts a system etcd on :2379 that nothing here uses
    if [[ " ${missing[*]} " == *" etcd-server "* ]]; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi
    # likewise a system Prometheus on :9090 (and its recommended node exporter): only promtool is wanted
    if [[ " ${missing[*]} " == *" prometheus "* ]]; then systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true; fi
fi
