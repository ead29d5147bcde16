"""A campaign's rows follow a merged person and lose their personal data on erasure."""

from datetime import UTC, datetime

import pytest

from campaigns import planning
from campaigns.models import AudienceMember, CampaignStatus, Delivery
from customers import services as customer_services
from tests.campaigns.pipeline import campaign, shopper

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


def status_of(made, customer):
    return Delivery.objects.filter(campaign=made, customer=customer).values_list("status", "reason")


def test_a_merge_moves_deliveries_and_suppresses_a_second_row_for_the_same_step():
    ana, ana_again = shopper(), shopper()
    both = campaign(status=CampaignStatus.SENDING)
    planning.plan_campaign(campaign=both, now=NOON)  # a queued row for each profile
    only_absorbed = campaign(status=CampaignStatus.SENDING)
    Delivery.objects.create(campaign=only_absorbed, customer=ana_again, status="sent", sent_at=NOON)
    AudienceMember.objects.create(campaign=both, customer=ana)
    AudienceMember.objects.create(campaign=both, customer=ana_again)
    AudienceMember.objects.create(campaign=only_absorbed, customer=ana_again)

    customer_services.merge_customers(survivor=ana, absorbed=ana_again, cause="test")

    assert list(status_of(both, ana)) == [("queued", "")]
    assert list(status_of(both, ana_again)) == [("suppressed", "duplicate")]  # never sent twice
    assert list(status_of(only_absorbed, ana)) == [("sent", "")]  # the history follows
    assert set(AudienceMember.objects.values_list("campaign_id", "customer_id")) == {
        (both.pk, ana.pk),
        (only_absorbed.pk, ana.pk),
    }


def test_erasure_strips_addresses_and_codes_and_stops_queued_rows():
    ana, ben = shopper(), shopper()
    made = campaign(status=CampaignStatus.SENDING)
    planning.plan_campaign(campaign=made, now=NOON)
    Delivery.objects.filter(customer=ana).update(coupon_code="ANA-1")
    sent = campaign(status=CampaignStatus.FINISHED)
    Delivery.objects.create(
        campaign=sent, customer=ana, status="opened", address="a@example.com", sent_at=NOON
    )

    customer_services.erase_customer(customer=ana, reason="GDPR request")

    rows = Delivery.objects.filter(customer=ana)
    assert set(rows.values_list("address", "coupon_code")) == {("", "")}
    assert list(status_of(made, ana)) == [("suppressed", "no_address")]
    assert list(status_of(sent, ana)) == [("opened", "")]  # the campaign's counts keep it
    assert list(status_of(made, ben)) == [("queued", "")]
    assert Delivery.objects.get(customer=ben, campaign=made).address
