#!/usr/bin/env bash
# `make demo`: migrate, seed and serve Omni on the embedded PostgreSQL (scripts/embedded_pg.py:
# data in .pgdata/, 127.0.0.1:54329), and stop that server again when the web server exits
# (Ctrl-C, or a TERM to the process group). With DATABASE_URL set, in the environment or in .env,
# the demo uses that database and starts no server.
#   HOST   where runserver listens (default 127.0.0.1:8000)
#   VENV   the virtualenv (default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${VENV:-.venv}/bin/python"
host="${HOST:-127.0.0.1:8000}"

if [ -z "${DATABASE_URL:-}" ] && ! grep -Eqs '^[[:space:]]*(export[[:space:]]+)?DATABASE_URL=' .env; then
    if "$py" scripts/embedded_pg.py status >/dev/null; then
        echo "The embedded PostgreSQL was already running: it stays up after the demo" \
            "(stop it with \`make demo-db-stop\`)."
    else
        trap '"$py" scripts/embedded_pg.py stop' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM HUP
        "$py" scripts/embedded_pg.py start
    fi
    DATABASE_URL="$("$py" scripts/embedded_pg.py url)"
    export DATABASE_URL
fi
# Links in e-mails (consent confirmation) point at this server.
export OMNI_PUBLIC_URL="${OMNI_PUBLIC_URL:-http://$host}"

"$py" manage.py migrate --noinput
"$py" manage.py seed_demo
echo "Omni: admin http://$host/admin/  API http://$host/api/v1/  docs http://$host/api/docs/"
"$py" manage.py runserver "$host"
