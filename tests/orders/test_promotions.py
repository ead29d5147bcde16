"""Promotions for marketers: the role may create them (migration 0013), and a promotion's
channels are real sales channels — ticked in the admin, checked by the API and by the database."""

import json

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from omni import roles
from omni.roles import grant, revoke
from orders.forms import PromotionForm
from orders.models import Promotion, PromotionKind
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/orders/promotion/add/"
API = "/api/v1/promotions/"


def _admin_post(**fields):
    return {
        "name": "Spring",
        "kind": "percentage",
        "value": "15",
        "min_basket": "0",
        "active": "on",
        "coupons-TOTAL_FORMS": "0",
        "coupons-INITIAL_FORMS": "0",
        "coupons-MIN_NUM_FORMS": "0",
        "coupons-MAX_NUM_FORMS": "1000",
        **fields,
    }


def test_a_marketer_creates_a_promotion_in_the_admin_and_a_store_clerk_cannot(client):
    client.force_login(UserFactory(role=roles.MARKETER))
    assert client.get(ADD).status_code == 200
    response = client.post(ADD, _admin_post(channels=["web", "app"]))
    assert response.status_code == 302, response.content[:2000]
    promotion = Promotion.objects.get()
    assert (promotion.name, promotion.channels) == ("Spring", ["web", "app"])
    assert client.get("/admin/orders/couponbatch/add/").status_code == 200

    client.force_login(UserFactory(role=roles.STORE_STAFF))
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, _admin_post(name="Clerk's")).status_code == 403
    assert client.get("/admin/orders/couponbatch/add/").status_code == 403
    assert Promotion.objects.count() == 1


def test_the_marketer_grant_reverses_to_view_only():
    marketer = Group.objects.get(name=roles.MARKETER)
    module = __import__(
        "orders.migrations.0013_marketer_promotion_permissions", fromlist=["GRANTS"]
    )

    def codenames():
        return set(marketer.permissions.values_list("codename", flat=True))

    assert {"add_promotion", "change_coupon", "add_couponbatch"} <= codenames()
    revoke(apps, module.GRANTS)
    assert not {"add_promotion", "add_coupon", "add_couponbatch"} & codenames()
    assert {"view_promotion", "view_coupon"} <= codenames()  # granted by 0004, kept
    grant(apps, module.GRANTS)
    assert {"add_promotion", "change_promotion", "add_couponbatch"} <= codenames()


def test_channels_are_checkboxes_of_the_sales_channels():
    form = PromotionForm()
    html = str(form["channels"])
    assert 'type="checkbox"' in html and 'value="web"' in html and 'value="store"' in html
    assert 'value="email"' not in html  # a messaging channel sells nothing


def test_the_admin_form_refuses_an_unknown_channel_naming_the_field(client):
    client.force_login(UserFactory(role=roles.MARKETER))
    response = client.post(ADD, _admin_post(channels=["website"]))
    assert response.status_code == 200
    assert "channels" in response.context["adminform"].form.errors
    assert not Promotion.objects.exists()


def test_no_channel_ticked_means_every_channel(client):
    client.force_login(UserFactory(role=roles.MARKETER))
    assert client.post(ADD, _admin_post()).status_code == 302
    assert Promotion.objects.get().channels == []


def test_the_database_refuses_unknown_channels():
    with pytest.raises(IntegrityError), transaction.atomic():
        Promotion.objects.create(name="x", kind=PromotionKind.PERCENTAGE, channels=["website"])
    promotion = Promotion.objects.create(name="y", kind=PromotionKind.PERCENTAGE, channels=["web"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Promotion.objects.filter(pk=promotion.pk).update(channels=["web", "email"])
    promotion.refresh_from_db()
    assert promotion.channels == ["web"]


@pytest.fixture
def marketer_api():
    api = APIClient()
    api.force_authenticate(UserFactory(role=roles.MARKETER))
    return api


def test_the_api_creates_a_promotion_with_channels(marketer_api):
    body = {"name": "App week", "kind": "fixed_amount", "value": "5.00", "channels": ["app"]}
    response = marketer_api.post(API, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["channels"] == ["app"]
    promotion = Promotion.objects.get()
    assert promotion.channels == ["app"]
    pk = promotion.pk
    changed = marketer_api.patch(f"{API}{pk}/", {"channels": ["web", "web"]}, format="json")
    assert changed.status_code == 200 and changed.json()["channels"] == ["web"]
    assert marketer_api.get(API).json()["results"][0]["id"] == pk


@pytest.mark.parametrize(
    "channels",
    [["website"], "web", [["web"]], [None], ["web\x00"], ["\ud800"], [1], ["web"] * 50],
)
def test_the_api_refuses_bad_channels_with_400_naming_the_field(marketer_api, channels):
    body = {"name": "Bad", "kind": "percentage", "value": "10", "channels": channels}
    raw = json.dumps(body, ensure_ascii=True)  # NUL and lone surrogates as a client sends them
    response = marketer_api.post(API, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert any(name.startswith("channels") for name in fields), fields
    assert not Promotion.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"value": "150"}, "value"),
        ({"starts_at": "2026-06-02T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z"}, "ends_at"),
        ({"value": "1e400"}, "value"),
        ({"max_uses": 2**40}, "max_uses"),
        ({"kind": "nope"}, "kind"),
        ({"categories": [2**70]}, "categories"),
    ],
)
def test_the_api_names_the_field_that_breaks_a_rule(marketer_api, fields, field):
    body = {"name": "Rule", "kind": "percentage", "value": "10", **fields}
    response = marketer_api.post(API, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert not Promotion.objects.exists()


def test_the_admin_names_the_field_that_breaks_a_rule(client):
    client.force_login(UserFactory(role=roles.MARKETER))
    response = client.post(ADD, _admin_post(value="150"))
    assert response.status_code == 200
    assert "value" in response.context["adminform"].form.errors
    assert not Promotion.objects.exists()


def test_only_marketers_and_admins_use_the_promotions_api(marketer_api):

    clerk = APIClient()
    clerk.force_authenticate(UserFactory(role=roles.STORE_STAFF))
    assert clerk.post(API, {"name": "x", "kind": "percentage"}, format="json").status_code == 403
    assert APIClient().get(API).status_code in {401, 403}


def test_the_channel_migration_keeps_what_was_typed_for_a_known_channel():
    module = __import__("orders.migrations.0012_coupon_batches", fromlist=["_known"])
    assert module._known(["website", "POS", "store"]) == ["web", "store"]
    assert module._known("app") == ["app"]
    assert module._known(["telepathy", None, 3]) == []  # nothing known: the promotion is paused
