import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parents[2]


def test_spectacular_validates_without_warnings(tmp_path):
    """Run in a subprocess: drf-spectacular's warning counter is process-global."""
    out = tmp_path / "schema.yml"

    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(out),
        ],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "omni.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stderr
    assert "Error" not in result.stderr
    schema = yaml.safe_load(out.read_text())
    assert schema["info"]["title"] == "Omni API"
    assert {"/api/v1/products/", "/api/v1/products/{id}/", "/api/v1/variants/"} <= set(
        schema["paths"]
    )
    assert "Error" in schema["components"]["schemas"]


@pytest.mark.django_db
def test_schema_endpoint(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/locations/" in schema["paths"]


@pytest.mark.django_db
def test_swagger_ui(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"/api/schema/" in response.content
    # Assets come from our static files (sidecar), not a CDN.
    assert b"cdn.jsdelivr.net" not in response.content
