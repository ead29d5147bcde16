"""Settings come from the environment: each case runs Django in a fresh subprocess."""

import importlib.util
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/omni"

# Every variable omni/settings.py reads; removed so the parent's environment does not leak in.
SETTINGS_VARIABLES = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "CONN_MAX_AGE",
    "CACHE_URL",
    "ACCOUNT_EMAIL_VERIFICATION",
    "EMAIL_URL",
    "DEFAULT_FROM_EMAIL",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "API_THROTTLE_ANON",
    "API_THROTTLE_USER",
    "API_THROTTLE_EVENTS",
    "DB_SERVER_SIDE_BINDING",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "IDEMPOTENCY_KEY_TTL_HOURS",
    "HEALTH_BROKER_TIMEOUT",
    "LOG_LEVEL",
    "TRUSTED_PROXY_COUNT",
    "CART_MAX_LINES",
    # Set by tests/browser/conftest.py for Playwright; must not reach the subprocesses.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)

DUMP_SETTINGS = """
import json
import django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "ENGINE": db["ENGINE"],
    "NAME": str(db["NAME"]),
    "USER": db.get("USER"),
    "HOST": db.get("HOST"),
    "PORT": db.get("PORT"),
    "OPTIONS": db.get("OPTIONS", {}),
    "CONN_MAX_AGE": db.get("CONN_MAX_AGE"),
    "DEBUG": settings.DEBUG,
    "SECRET_KEY": settings.SECRET_KEY,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "CSRF_TRUSTED_ORIGINS": settings.CSRF_TRUSTED_ORIGINS,
    "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    "CELERY_TASK_ALWAYS_EAGER": settings.CELERY_TASK_ALWAYS_EAGER,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "THROTTLE_RATES": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
    "NUM_PROXIES": settings.REST_FRAMEWORK["NUM_PROXIES"],
    "ALLAUTH_TRUSTED_PROXY_COUNT": settings.ALLAUTH_TRUSTED_PROXY_COUNT,
    "SECURE_PROXY_SSL_HEADER": settings.SECURE_PROXY_SSL_HEADER,
}))
"""


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env["DJANGO_SETTINGS_MODULE"] = "omni.settings"
    env.update(overrides)
    return env


def _run(args: list[str], **overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=_env(**overrides),
        capture_output=True,
        text=True,
        timeout=60,
    )


def load_settings(**overrides: str) -> dict:
    result = _run(["-c", DUMP_SETTINGS], **overrides)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def demo_settings() -> dict:
    """No variables at all: the zero-setup demo."""
    return load_settings()


def _embedded_pg():
    """scripts/embedded_pg.py, the demo's embedded PostgreSQL (imported, nothing started)."""
    spec = importlib.util.spec_from_file_location(
        "embedded_pg", BASE_DIR / "scripts" / "embedded_pg.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_are_the_demo_embedded_postgres_eager_debug(demo_settings):
    # The embedded server `make demo` starts: its port, never the machine's 5432.
    assert demo_settings["ENGINE"] == "django.db.backends.postgresql"
    assert (demo_settings["HOST"], demo_settings["PORT"]) == ("127.0.0.1", 54329)
    assert (demo_settings["USER"], demo_settings["NAME"]) == ("postgres", "omni")
    assert demo_settings["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": 5}
    assert demo_settings["DEBUG"] is True
    assert demo_settings["CELERY_BROKER_URL"] == ""
    assert demo_settings["CELERY_TASK_ALWAYS_EAGER"] is True
    assert demo_settings["SECURE_SSL_REDIRECT"] is False
    assert demo_settings["SECURE_HSTS_SECONDS"] == 0
    assert "localhost" in demo_settings["ALLOWED_HOSTS"]


def test_the_default_is_the_url_the_embedded_server_serves(demo_settings):
    embedded_pg = _embedded_pg()
    served = (embedded_pg.HOST, embedded_pg.PORT, embedded_pg.USER, embedded_pg.DATABASE)
    default = tuple(demo_settings[key] for key in ("HOST", "PORT", "USER", "NAME"))
    assert default == served
    assert embedded_pg.database_url() == "postgres://postgres@127.0.0.1:54329/omni"


def test_settings_start_no_server():
    """Loading the settings (and a system check) neither creates, starts nor needs the embedded
    server: `make demo` does that."""
    data_dir = BASE_DIR / ".pgdata"
    before = (data_dir.exists(), (data_dir / "postmaster.pid").exists())
    result = _run(["manage.py", "check"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert (data_dir.exists(), (data_dir / "postmaster.pid").exists()) == before


def test_a_database_other_than_postgresql_is_refused(tmp_path):
    result = _run(["-c", DUMP_SETTINGS], DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    assert result.returncode != 0
    assert "Omni runs on PostgreSQL only" in result.stderr


def test_postgres_url_and_broker_and_production_variables():
    secret = secrets.token_urlsafe(64)
    loaded = load_settings(
        DATABASE_URL=POSTGRES_URL,
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        DEBUG="False",
        SECRET_KEY=secret,
        ALLOWED_HOSTS="omni.example.com,www.omni.example.com",
        CSRF_TRUSTED_ORIGINS="https://omni.example.com",
    )
    assert loaded["ENGINE"] == "django.db.backends.postgresql"
    assert loaded["NAME"] == "omni"
    assert "transaction_mode" not in loaded["OPTIONS"]
    # Parameters bound on the server, statements prepared after five runs.
    assert loaded["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": 5}
    assert loaded["CONN_MAX_AGE"] == 60
    assert loaded["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/0"
    assert loaded["CELERY_TASK_ALWAYS_EAGER"] is False
    assert loaded["DEBUG"] is False
    assert loaded["SECRET_KEY"] == secret
    assert loaded["ALLOWED_HOSTS"] == ["omni.example.com", "www.omni.example.com"]
    assert loaded["CSRF_TRUSTED_ORIGINS"] == ["https://omni.example.com"]
    # Without DEBUG the security settings default to strict.
    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert loaded["SESSION_COOKIE_SECURE"] is True
    assert loaded["CSRF_COOKIE_SECURE"] is True
    assert loaded["SECURE_HSTS_SECONDS"] >= 31536000


def test_check_deploy_passes_with_production_variables():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="omni.example.com",
        DATABASE_URL=POSTGRES_URL,
        CSRF_TRUSTED_ORIGINS="https://omni.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_server_side_binding_can_be_turned_off_for_a_pooler():
    loaded = load_settings(DATABASE_URL=POSTGRES_URL, DB_SERVER_SIDE_BINDING="False")
    assert loaded["OPTIONS"] == {}


def test_throttle_rates_from_the_environment_and_off():
    assert load_settings()["THROTTLE_RATES"] == {
        "anon": "600/minute",
        "user": "3000/minute",
        "events": "100000/minute",
    }
    loaded = load_settings(API_THROTTLE_ANON="off", API_THROTTLE_USER="60/minute")
    assert loaded["THROTTLE_RATES"]["anon"] is None  # DRF lets every request through
    assert loaded["THROTTLE_RATES"]["user"] == "60/minute"


def test_trusted_proxies_from_the_environment():
    direct = load_settings()
    assert (direct["NUM_PROXIES"], direct["ALLAUTH_TRUSTED_PROXY_COUNT"]) == (0, 0)
    assert direct["SECURE_PROXY_SSL_HEADER"] is None  # nobody may claim https by a header
    behind = load_settings(TRUSTED_PROXY_COUNT="1")
    assert (behind["NUM_PROXIES"], behind["ALLAUTH_TRUSTED_PROXY_COUNT"]) == (1, 1)
    assert behind["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
