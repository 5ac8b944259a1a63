#!/usr/bin/env bash
# Starts the machine services the tests use (PostgreSQL, Redis, RabbitMQ) when they are not answering.
# The tests start their own Kafka-compatible broker and TSDB; this script only revives the machine's own.
set -uo pipefail

wait_for() {  # wait_for NAME COMMAND...: up to 30 s
    local name=$1; shift
    for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    echo "ensure-services: $name did not come up" >&2; return 1
}

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "ensure-services: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping || exit 1
fi
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
    echo "ensure-services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432 || exit 1
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    echo "ensure-services: starting RabbitMQ"
    rabbitmq-server -detached || true
    wait_for RabbitMQ bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672' || exit 1
fi
exit 0
