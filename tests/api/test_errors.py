"""One error format for the API, and the shared idempotency helper."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from inventory.models import Category
from omni import roles
from omni.api.exceptions import exception_handler
from omni.exceptions import IdempotencyKeyReused, InvalidIdempotencyKey, NotFound
from omni.idempotency import MAX_KEY_LENGTH, clean_key, fingerprint, run_idempotent
from omni.models import IdempotencyKey
from omni.tasks import purge_idempotency_keys
from tests.factories import LocationFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"


def error_of(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    return error


@pytest.fixture
def admin_auth():
    user = UserFactory(role=roles.BACKOFFICE_ADMIN)
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=user).key}"}


# --- Error format ----------------------------------------------------------------------------


def test_non_numeric_price_filter(client):
    error = error_of(client.get(PRODUCTS, {"price_min": "abc"}), 400)

    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["price_min"]
    assert error["message"].startswith("price_min")


def test_price_min_above_price_max(client):
    error = error_of(client.get(PRODUCTS, {"price_min": "50", "price_max": "10"}), 400)

    assert error["code"] == "invalid"
    assert "price_max" in error["fields"]


def test_unknown_product_id(client):
    error = error_of(client.get(f"{PRODUCTS}999999/"), 404)

    assert error["code"] == "not_found"
    assert error["fields"] == {}


def test_non_numeric_product_id_is_a_404_not_a_500(client):
    ProductFactory()

    error = error_of(client.get(f"{PRODUCTS}abc/"), 404)

    assert error["code"] == "not_found"


def test_invalid_json_body(client, admin_auth):
    response = client.post(
        PRODUCTS, data='{"name": "Boot",', content_type="application/json", **admin_auth
    )

    error = error_of(response, 400)
    assert error["code"] == "parse_error"
    assert "JSON" in error["message"]


def test_validation_error_lists_every_field(client, admin_auth):
    response = client.post(PRODUCTS, data={}, content_type="application/json", **admin_auth)

    error = error_of(response, 400)
    assert error["code"] == "invalid"
    assert {"name", "slug", "category"} <= set(error["fields"])
    assert all(isinstance(v, list) and v for v in error["fields"].values())


def test_unknown_api_url_is_a_json_404(client):
    error = error_of(client.get("/api/v1/nope/"), 404)

    assert error["code"] == "not_found"


def test_method_not_allowed_on_locations(client, admin_auth):
    location = LocationFactory()

    error = error_of(client.post("/api/v1/locations/", data={}, **admin_auth), 405)
    assert error["code"] == "method_not_allowed"
    assert "POST" in error["message"]

    error = error_of(client.delete(f"/api/v1/locations/{location.pk}/", **admin_auth), 405)
    assert error["code"] == "method_not_allowed"


def test_domain_errors_go_through_the_same_handler():
    response = exception_handler(IdempotencyKeyReused(), {})
    assert response.status_code == 422
    assert response.data["error"]["code"] == "idempotency_key_reused"

    response = exception_handler(NotFound("No such order.", fields={"order": ["gone"]}), {})
    assert response.status_code == 404
    assert response.data == {
        "error": {"code": "not_found", "message": "No such order.", "fields": {"order": ["gone"]}}
    }


def test_api_root_lists_the_collections(client):
    response = client.get("/api/v1/")

    assert response.status_code == 200
    assert {"products", "variants", "locations", "schema", "docs"} <= set(response.json())


# --- Idempotency helper ----------------------------------------------------------------------


class Recorder:
    """An action that counts its calls and creates a row, so effects are visible."""

    def __init__(self, fail=False):
        self.calls = 0
        self.fail = fail

    def __call__(self):
        self.calls += 1
        category = Category.objects.create(name=f"Made {self.calls}", slug=f"made-{self.calls}")
        if self.fail:
            raise RuntimeError("boom")
        return 201, {"id": category.pk}


def test_same_key_same_request_runs_once_and_replays():
    action = Recorder()
    fp = fingerprint("POST", "/api/v1/checkout/", {"cart": 1})

    first = run_idempotent(scope="checkout", key="k-1", request_fingerprint=fp, action=action)
    second = run_idempotent(scope="checkout", key="k-1", request_fingerprint=fp, action=action)

    assert action.calls == 1
    assert first.replayed is False
    assert second.replayed is True
    assert (first.status_code, first.body) == (201, {"id": first.body["id"]})
    assert (second.status_code, second.body) == (first.status_code, first.body)
    assert Category.objects.filter(slug__startswith="made-").count() == 1
    row = IdempotencyKey.objects.get(scope="checkout", key="k-1")
    assert (row.status_code, row.response, row.fingerprint) == (201, first.body, fp)


def test_same_key_in_another_scope_is_independent():
    action = Recorder()
    fp = fingerprint("x")

    run_idempotent(scope="checkout", key="k", request_fingerprint=fp, action=action)
    result = run_idempotent(scope="events", key="k", request_fingerprint=fp, action=action)

    assert action.calls == 2
    assert result.replayed is False


def test_same_key_different_request_is_refused():
    action = Recorder()
    run_idempotent(scope="checkout", key="k-2", request_fingerprint=fingerprint(1), action=action)

    with pytest.raises(IdempotencyKeyReused) as raised:
        run_idempotent(
            scope="checkout", key="k-2", request_fingerprint=fingerprint(2), action=action
        )

    assert action.calls == 1
    assert raised.value.status_code == 422
    assert IdempotencyKey.objects.filter(key="k-2").count() == 1


def test_failed_action_rolls_back_and_leaves_no_key():
    failing = Recorder(fail=True)
    fp = fingerprint("same")

    with pytest.raises(RuntimeError):
        run_idempotent(scope="checkout", key="k-3", request_fingerprint=fp, action=failing)

    assert not IdempotencyKey.objects.filter(key="k-3").exists()
    assert not Category.objects.filter(slug__startswith="made-").exists()

    retry = Recorder()
    result = run_idempotent(scope="checkout", key="k-3", request_fingerprint=fp, action=retry)
    assert retry.calls == 1
    assert result.replayed is False
    assert IdempotencyKey.objects.filter(key="k-3").exists()


def test_no_key_runs_every_time_and_stores_nothing():
    action = Recorder()

    for _ in range(2):
        result = run_idempotent(
            scope="checkout", key=None, request_fingerprint=fingerprint(), action=action
        )
        assert result.replayed is False

    assert action.calls == 2
    assert not IdempotencyKey.objects.exists()


def test_fingerprint_is_stable_and_order_insensitive_for_dicts():
    assert fingerprint("POST", {"a": 1, "b": 2}) == fingerprint("POST", {"b": 2, "a": 1})
    assert fingerprint("POST", {"a": 1}) != fingerprint("POST", {"a": 2})
    assert len(fingerprint("x")) == 64


def test_clean_key():
    assert clean_key(None) is None
    assert clean_key("  abc-123  ") == "abc-123"
    assert clean_key("k" * MAX_KEY_LENGTH) == "k" * MAX_KEY_LENGTH
    for bad in ("", "   ", "k" * (MAX_KEY_LENGTH + 1), "bad\x00key", "line\nbreak"):
        with pytest.raises(InvalidIdempotencyKey):
            clean_key(bad)


def test_purge_idempotency_keys_deletes_only_old_rows(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.IDEMPOTENCY_KEY_TTL = timedelta(hours=48)
    now = timezone.now()
    ages = {"fresh": timedelta(minutes=5), "young": timedelta(hours=47), "old": timedelta(hours=49)}
    ages["ancient"] = timedelta(days=30)
    for key, age in ages.items():
        row = IdempotencyKey.objects.create(scope="checkout", key=key, fingerprint="f")
        IdempotencyKey.objects.filter(pk=row.pk).update(created_at=now - age)

    deleted = purge_idempotency_keys.delay().get()

    assert deleted == 2
    assert set(IdempotencyKey.objects.values_list("key", flat=True)) == {"fresh", "young"}
    assert purge_idempotency_keys() == 0  # safe to run twice
