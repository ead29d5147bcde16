"""scripts/embedded_pg.py: the demo's embedded PostgreSQL, started in a scratch data directory on
a free port (as root too, which is how CI runs: the server then runs as `nobody` in a user
namespace)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
SCRIPT = BASE_DIR / "scripts" / "embedded_pg.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, port: int):
        self.data_dir, self.port = data_dir, port

    def run(self, command: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, str(SCRIPT), command]
        argv += ["--data-dir", str(self.data_dir), "--port", str(self.port)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    def connect(self, dbname: str = "omni") -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True
        )


@pytest.fixture
def server(tmp_path):
    server = Server(tmp_path / "pgdata", _free_port())
    yield server
    server.run("stop")


def test_start_creates_the_cluster_and_the_database_on_the_given_port_only(server):
    started = server.run("start")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Creating the embedded PostgreSQL cluster" in started.stdout
    assert server.run("status").returncode == 0
    with server.connect() as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('port', "
                "'listen_addresses', 'unix_socket_directories', 'data_directory', "
                "'server_encoding')"
            ).fetchall()
        )
        provider, locale = conn.execute(
            "SELECT datlocprovider, datlocale FROM pg_database WHERE datname = 'omni'"
        ).fetchone()
        assert conn.execute("SELECT upper('núñez')").fetchone()[0] == "NÚÑEZ"
    assert settings == {
        "port": str(server.port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",  # no socket file, whatever the checkout's path length
        "data_directory": str(server.data_dir),
        "server_encoding": "UTF8",
    }
    assert (provider, locale) == ("b", "C.UTF-8")  # PostgreSQL's own, not the OS's locales
    # Even run as root the files stay the caller's: no account added, nothing chown-ed.
    assert server.data_dir.stat().st_uid == os.geteuid()
    assert server.data_dir.stat().st_mode & 0o777 == 0o700


def test_stop_then_start_keeps_the_data_and_a_second_start_is_a_no_op(server):
    assert server.run("start").returncode == 0
    with server.connect() as conn:
        conn.execute("CREATE TABLE kept (id int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    again = server.run("start")  # already running: nothing to do
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""

    stopped = server.run("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert server.run("status").returncode == 3
    with pytest.raises(psycopg.OperationalError):
        server.connect()
    assert server.run("stop").returncode == 0  # stopping a stopped server is fine

    restarted = server.run("start")
    assert restarted.returncode == 0, restarted.stderr
    assert "Creating" not in restarted.stdout
    with server.connect() as conn:
        assert conn.execute("SELECT id FROM kept").fetchall() == [(42,)]


def test_a_taken_port_is_a_clear_error(server):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", server.port))
        squatter.listen()
        result = server.run("start")
    assert result.returncode == 1
    assert f"Port {server.port} is taken" in result.stderr
    assert server.run("status").returncode == 3


def test_url_is_the_database_url_of_the_server(server):
    result = server.run("url")
    assert result.stdout.strip() == f"postgres://postgres@127.0.0.1:{server.port}/omni"
