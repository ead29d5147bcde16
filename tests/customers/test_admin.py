"""The customer 360 page: counter search, timeline, consents at the counter, merge, GDPR."""

import json

import pytest

from customers import services
from customers.models import Consent, Customer, CustomerStatus, Merge, MergeReview
from omni import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk(client):
    user = UserFactory(role=roles.STORE_STAFF)
    client.force_login(user)
    return user


@pytest.fixture
def ana(make_customer):
    customer = make_customer(
        email="ana@example.com", phone="+34 600 111 222", card="omni 0001", first_name="Ana"
    )
    services.record_events(
        events=[
            {
                "type": "track",
                "event": "order_placed",
                "email": "ana@example.com",
                "channel": "store",
                "properties": {"total": "59.90", "store": "mad-granvia"},
                "message_id": "o-1",
            }
        ]
    )
    services.recompute_traits(customer_ids=[customer.pk])
    return customer


@pytest.mark.parametrize(
    "term", ["ANA@example.com ", "600 11 12 22", "+34600111222", "OMNI0001", "omni 0001", "ana"]
)
def test_counter_search_normalises_like_the_services(client, clerk, ana, make_customer, term):
    make_customer(email="bob@example.com", first_name="Bob")

    response = client.get("/admin/customers/customer/", {"q": term})

    assert response.status_code == 200
    listed = list(response.context["cl"].result_list)
    assert listed == [ana]


def test_360_page_shows_identities_traits_timeline_and_consents(client, clerk, ana):
    services.set_consent(
        customer=ana, channel="sms", purpose="marketing", granted=True, source="app"
    )

    response = client.get(f"/admin/customers/customer/{ana.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "+34600111222" in html and "ana@example.com" in html
    assert "59.90" in html  # revenue trait
    assert "Order placed" in html  # timeline
    assert 'id="consents-panel"' in html and "Granted" in html
    # Store staff do not get the GDPR buttons.
    assert "GDPR export" not in html


def test_clerk_records_consent_at_the_counter_with_their_name(client, clerk, ana):
    response = client.post(
        f"/admin/customers/customer/{ana.pk}/change/",
        {
            "record_consent": "1",
            "channel": "email",
            "purpose": "marketing",
            "granted": "1",
            "wording_version": "store-2026",
        },
    )

    assert response.status_code == 302
    consent = Consent.objects.get(customer=ana, channel="email")
    assert (consent.state, consent.source, consent.staff_id) == ("granted", "store", clerk.pk)


def test_merge_by_hand_with_preview(client, ana, make_customer):
    manager = UserFactory(role=roles.STORE_MANAGER)
    client.force_login(manager)
    other = make_customer(email="ana.work@example.com", last_name="Pérez")

    preview = client.get(f"/admin/customers/customer/merge/{ana.pk}/{other.pk}/")
    assert preview.status_code == 200
    assert "ana.work@example.com" in preview.content.decode()

    response = client.post(
        f"/admin/customers/customer/merge/{ana.pk}/{other.pk}/", {"survivor": str(ana.pk)}
    )

    assert response.status_code == 302
    other.refresh_from_db()
    assert other.status == CustomerStatus.MERGED and other.merged_into_id == ana.pk
    merge = Merge.objects.get(absorbed=other)
    assert merge.acting_user == manager
    assert Customer.objects.get(pk=ana.pk).last_name == "Pérez"  # blank filled from absorbed


def test_store_staff_cannot_merge_export_or_erase(client, clerk, ana, make_customer):
    other = make_customer(email="x@example.com")
    assert client.get(f"/admin/customers/customer/merge/{ana.pk}/{other.pk}/").status_code == 403
    assert client.get(f"/admin/customers/customer/{ana.pk}/export/").status_code == 403
    assert (
        client.post(f"/admin/customers/customer/{ana.pk}/erase/", {"confirm": "ERASE"}).status_code
        == 403
    )
    assert Customer.objects.get(pk=ana.pk).status == CustomerStatus.LIVE


def test_backoffice_admin_exports_and_erases(client, ana):
    admin_user = UserFactory(role=roles.BACKOFFICE_ADMIN)
    client.force_login(admin_user)

    export = client.get(f"/admin/customers/customer/{ana.pk}/export/")
    assert export.status_code == 200
    data = json.loads(export.content)
    assert {i["value"] for i in data["identities"]} >= {"ana@example.com", "+34600111222"}

    wrong = client.post(f"/admin/customers/customer/{ana.pk}/erase/", {"confirm": "yes"})
    assert wrong.status_code == 200
    assert Customer.objects.get(pk=ana.pk).status == CustomerStatus.LIVE

    done = client.post(
        f"/admin/customers/customer/{ana.pk}/erase/", {"confirm": "ERASE", "reason": "request"}
    )
    assert done.status_code == 302
    erased = Customer.objects.get(pk=ana.pk)
    assert erased.status == CustomerStatus.ERASED
    assert not erased.identities.exists()


def test_changelist_query_count_does_not_grow(
    client, clerk, make_customer, django_assert_max_num_queries
):
    for n in range(5):
        make_customer(email=f"p{n}@example.com")
    with django_assert_max_num_queries(12):
        client.get("/admin/customers/customer/")
    for n in range(5, 40):
        make_customer(email=f"p{n}@example.com")
    with django_assert_max_num_queries(12):
        assert client.get("/admin/customers/customer/").status_code == 200


def test_review_queue_approve_merges(client, make_customer):
    manager = UserFactory(role=roles.STORE_MANAGER)
    client.force_login(manager)
    a = make_customer(email="a@example.com", anonymous_id="tablet-1")
    b = services.identify(identifiers=[("email", "b@example.com", True), ("anonymous", "tablet-1")])
    review = MergeReview.objects.get()
    assert {review.customer_a_id, review.customer_b_id} == {a.pk, b.pk}

    response = client.post(
        "/admin/customers/mergereview/",
        {"action": "approve", "_selected_action": [review.pk]},
    )

    assert response.status_code == 302
    assert Merge.objects.count() == 1
    review.refresh_from_db()
    assert review.status == "merged"
