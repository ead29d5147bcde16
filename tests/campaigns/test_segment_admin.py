"""The segment builder in the admin: marketers build, preview and save; others are turned away."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.models import Segment
from customers.models import Customer, CustomerTraits
from omni import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PREVIEW = reverse("admin:campaigns_segment_preview")
ADD = reverse("admin:campaigns_segment_add")
LOYAL = {"op": "all", "rules": [{"type": "trait", "field": "orders_count", "op": ">=", "value": 3}]}


@pytest.fixture
def customers(db):
    for n in (1, 4, 7):
        customer = Customer.objects.create(first_name=f"Orders{n}")
        CustomerTraits.objects.create(customer=customer, orders_count=n)


def client_for(role=None, **kwargs):
    client = Client(**kwargs)
    client.force_login(UserFactory(role=role) if role else UserFactory(is_staff=True))
    return client


def preview(client, rules):
    return client.post(PREVIEW, json.dumps({"rules": rules}), content_type="application/json")


def test_marketer_opens_the_builder_with_the_catalogue():
    response = client_for(roles.MARKETER).get(ADD)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="segment-builder"' in page and 'id="segment-catalogue"' in page
    assert '"type": "consent"' in page and PREVIEW in page


def test_preview_counts_and_samples_the_unsaved_tree(customers):
    response = preview(client_for(roles.MARKETER), LOYAL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert sorted(c["name"] for c in body["sample"]) == ["Orders4", "Orders7"]
    assert body["sample"][0]["url"].startswith("/admin/customers/customer/")


def test_preview_names_the_wrong_condition():
    rules = {"op": "all", "rules": [LOYAL["rules"][0], {**LOYAL["rules"][0], "value": "many"}]}
    response = preview(client_for(roles.MARKETER), rules)
    assert response.status_code == 400
    assert response.json()["errors"][0].startswith("Condition 2 (Trait · Number of orders):")


@pytest.mark.parametrize("body", ["not json", "[" * 100_000, '{"rules": 5}', "x" * 200_000])
def test_preview_refuses_garbage(body):
    response = client_for(roles.MARKETER).post(PREVIEW, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"]


def test_preview_is_post_with_csrf():
    client = client_for(roles.MARKETER, enforce_csrf_checks=True)
    assert client.get(PREVIEW).status_code == 405
    assert preview(client, LOYAL).status_code == 403  # no CSRF token


def test_marketer_saves_a_segment_and_a_wrong_type_is_a_form_error(customers):
    client = client_for(roles.MARKETER)
    bad = {"op": "all", "rules": [{"type": "consent", "channel": "email"}, {**LOYAL["rules"][0], "value": "3x"}]}  # fmt: skip
    response = client.post(ADD, {"name": "Loyal", "description": "", "rules": json.dumps(bad)})
    assert response.status_code == 200
    assert (
        "Condition 2 (Trait · Number of orders): needs a whole number" in response.content.decode()
    )
    assert not Segment.objects.exists()
    response = client.post(ADD, {"name": "Loyal", "description": "", "rules": json.dumps(LOYAL)})
    assert response.status_code == 302
    segment = Segment.objects.get()
    assert segment.rules == LOYAL and segment.created_by.groups.get().name == roles.MARKETER
    change = reverse("admin:campaigns_segment_change", args=[segment.pk])
    response = client.post(
        change, {"name": "Loyal 2", "description": "d", "rules": json.dumps(LOYAL)}
    )
    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.description) == ("Loyal 2", "d")


@pytest.mark.parametrize(
    "rules",
    [
        "{not json",
        "[" * 5000 + "]" * 5000,
        '{"op": "all", "rules": [{"type": "consent", "channel": "\\u0000"}]}',
        '{"op": "all", "rules": [{"type": "trait", "field": "\\ud800", "op": "="}]}',
        '{"op": "all", "rules": [{"type": "trait", "\\ud800": 1}]}',
        '{"op": "all", "rules": [{"type": "trait", "field": "orders_count", "op": "\\ud800"}]}',
    ],
)
def test_garbage_in_the_form_is_a_form_error(rules):
    response = client_for(roles.MARKETER).post(ADD, {"name": "x", "rules": rules})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not Segment.objects.exists()


def test_a_segment_cannot_contain_itself():
    client = client_for(roles.MARKETER)
    client.post(ADD, {"name": "A", "rules": json.dumps(LOYAL)})
    segment = Segment.objects.get()
    self_loop = {"op": "all", "rules": [{"type": "segment", "segment": segment.pk}]}
    change = reverse("admin:campaigns_segment_change", args=[segment.pk])
    response = client.post(change, {"name": "A", "rules": json.dumps(self_loop)})
    assert "would contain this segment" in response.content.decode()


@pytest.mark.parametrize("role", [roles.STORE_STAFF, roles.STORE_MANAGER, None])
def test_others_are_denied(role):
    client = client_for(role)
    assert client.get(ADD).status_code == 403
    assert preview(client, LOYAL).status_code == 403
    assert Client().post(PREVIEW).status_code == 302  # anonymous: to the sign-in page


def test_a_segment_another_includes_cannot_be_deleted(marketer):
    from campaigns import services

    base = services.save_segment(name="Base", rules=LOYAL, acting_user=marketer)
    services.save_segment(
        name="Uses base",
        rules={"op": "all", "rules": [{"type": "segment", "segment": base.pk}]},
        acting_user=marketer,
    )
    client = client_for(roles.BACKOFFICE_ADMIN)
    delete = reverse("admin:campaigns_segment_delete", args=[base.pk])
    response = client.post(delete, {"post": "yes"}, follow=True)
    assert "Other segments include this one: Uses base." in response.content.decode()
    assert Segment.objects.filter(pk=base.pk).exists()
    changelist = client.get(reverse("admin:campaigns_segment_changelist")).content.decode()
    assert "Uses base" in changelist and 'value="delete_selected"' not in changelist
    other = Segment.objects.get(name="Uses base")
    client.post(reverse("admin:campaigns_segment_delete", args=[other.pk]), {"post": "yes"})
    client.post(delete, {"post": "yes"})
    assert not Segment.objects.exists()


def test_a_saved_segment_offers_its_social_audience_files_that_the_marketer_can_download():
    segment = Segment.objects.create(name="Loyal", rules=LOYAL)
    client = client_for(roles.MARKETER)
    assert 'id="segment-audience-downloads"' not in client.get(ADD).content.decode()
    page = client.get(reverse("admin:campaigns_segment_change", args=[segment.pk])).content.decode()
    links = re.findall(r'href="([^"]*audience\.csv[^"]*)"', page)
    assert links == [
        f"/api/v1/segments/{segment.pk}/audience.csv?layout=meta",
        f"/api/v1/segments/{segment.pk}/audience.csv?layout=google",
    ]
    response = client.get(links[1])  # the admin session is enough
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert b"Email,Phone" in b"".join(
        response.streaming_content if response.streaming else [response.content]
    )
