#!/usr/bin/env bash
# The interpreter `make` builds the virtualenv on: the system's /usr/bin/python3 when it is
# CPython 3.11 or newer with venv support, else the first python3 on PATH.
#
# Why: Debian's CPython (like most distributions') is built with profile-guided optimisation and
# LTO, with libpython linked into the executable; a default pyenv build (--enable-shared, no
# --enable-optimizations) runs ~10 % more instructions per checkout and places fewer checkouts
# per second (BENCHMARKS.md, "Interpreter"). Override with `make PYTHON=…`; OMNI_SYSTEM_PYTHON
# names another system interpreter to prefer (the tests use it).
set -euo pipefail
for candidate in "${OMNI_SYSTEM_PYTHON:-/usr/bin/python3}" python3; do
    path="$(command -v "$candidate" 2>/dev/null || true)"
    [ -n "$path" ] || continue
    if "$path" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "$path"
        exit 0
    fi
done
echo python3
