import socket

import pytest

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def test_health_ok_without_broker(client, settings):
    settings.CELERY_BROKER_URL = ""

    response = client.get("/health/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("not configured")
    assert "no-cache" in response["Cache-Control"]


def test_health_rejects_post(client):
    assert client.post("/health/").status_code == 405


def test_health_broker_ok(client, settings):
    if not _redis_is_up():
        pytest.fail("Redis must listen on 127.0.0.1:6379 for this test")
    settings.CELERY_BROKER_URL = REDIS_URL

    response = client.get("/health/")

    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_health_broker_down_is_503(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.HEALTH_BROKER_TIMEOUT = 0.5

    response = client.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")


def test_health_database_unusable_is_503(client, settings, monkeypatch):
    from django.db import connection

    settings.CELERY_BROKER_URL = ""
    monkeypatch.setattr(connection, "is_usable", lambda: False)

    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error")
