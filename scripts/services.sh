#!/usr/bin/env bash
# Make sure the services the test suite talks to are up: PostgreSQL, Redis, and a Chromium for
# the browser tests. Starts what is stopped, installs Chromium from Debian's packages if missing.
set -euo pipefail

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "Starting PostgreSQL…"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

# The concurrency tests open 300+ connections at once (one per thread).
max_conn="$(psql -h 127.0.0.1 -U postgres -Atc 'SHOW max_connections')"
if [ "$max_conn" -lt 400 ]; then
    echo "Raising PostgreSQL max_connections from $max_conn to 400 (restart)…"
    psql -h 127.0.0.1 -U postgres -qc 'ALTER SYSTEM SET max_connections = 400'
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main restart
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "Starting Redis…"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping

if ! command -v chromium >/dev/null 2>&1; then
    echo "Installing Chromium (Debian package) for the browser tests…"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium >/dev/null
fi
command -v chromium
