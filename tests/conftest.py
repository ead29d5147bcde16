import os

import pytest
from django.conf import settings


def pytest_configure(config):
    # Without DATABASE_URL the settings point at the demo's embedded PostgreSQL, which is
    # not for tests (it runs only with `make demo`, with the default 100 connections).
    settings.DATABASES  # noqa: B018 -- loads the settings, and with them .env
    if not os.environ.get("DATABASE_URL"):
        raise pytest.UsageError(
            "The test suite runs on PostgreSQL: set "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/omni (`make test` does it for you)."
        )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(params=["fast_sql", "orm"])
def sql_path(request, settings):
    """Run a hot-path test twice: with the queries modules' SQL, then their ORM reference twin.

    Hot-path test modules opt in with ``pytestmark = pytest.mark.usefixtures("sql_path")``.
    """
    settings.OMNI_FAST_SQL = request.param == "fast_sql"
    return request.param


def restore_roles():
    """Re-apply every data migration's role grants (``GRANTS``), in migration order.

    Transactional tests (threads, live server) end by truncating every table, which also wipes
    the role groups that data migrations created; tests that need them call this first.
    """
    from django.apps import apps
    from django.db.migrations.loader import MigrationLoader

    from omni.roles import grant

    loader = MigrationLoader(None, ignore_no_migrations=True)
    for key in loader.graph.leaf_nodes():
        for app_label, name in loader.graph.forwards_plan(key):
            module = __import__(loader.graph.nodes[(app_label, name)].__module__, fromlist=["*"])
            if hasattr(module, "GRANTS"):
                grant(apps, module.GRANTS)


@pytest.fixture
def roles(transactional_db):
    restore_roles()


@pytest.fixture
def outbox(settings):
    """Every message omni.messaging sends (e-mail, SMS, push), in order."""
    from omni.messaging import RecordingBackend

    settings.MESSAGING_BACKENDS = dict.fromkeys(
        ("email", "sms", "push"), "omni.messaging.RecordingBackend"
    )
    RecordingBackend.outbox = []
    return RecordingBackend.outbox
