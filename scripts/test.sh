#!/usr/bin/env bash
# Run the whole suite on PostgreSQL. "No tests collected" (pytest exit 5) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:=postgres://postgres@127.0.0.1:5432/omni}"
export DATABASE_URL
.venv/bin/pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: the suite is broken" >&2
    exit 1
fi
exit "$rc"
