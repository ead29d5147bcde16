"""Planning: the segment becomes Delivery rows in one statement (both SQL paths), with holdout
and variants by a stable hash, the channel by consent, address and preference, idempotently."""

import pytest

from campaigns import planning
from campaigns.models import CampaignVariant, Delivery, Segment
from customers.models import ConsentState, Customer
from tests.campaigns.pipeline import campaign, consent, shopper

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]


def rows(made):
    return {d.customer_id: d for d in Delivery.objects.filter(campaign=made)}


def many(n):
    """``n`` customers, each reachable by e-mail (set-based: the test is about planning)."""
    from customers.models import Channel, Consent, Identity, IdentityKind

    customers = Customer.objects.bulk_create([Customer(first_name=f"C{i}") for i in range(n)])
    Identity.objects.bulk_create(
        Identity(customer=c, kind=IdentityKind.EMAIL, value=f"{c.pk}@x.es", source=Channel.WEB)
        for c in customers
    )
    Consent.objects.bulk_create(
        Consent(customer=c, channel="email", purpose="marketing", state="granted", source="import")
        for c in customers
    )
    return customers


def test_plans_one_row_per_segment_customer_and_replanning_adds_nothing():
    a, b = shopper(), shopper()
    shopper(status="merged")
    made = campaign()
    assert planning.plan_campaign(campaign=made) == 2
    assert set(rows(made)) == {a.pk, b.pk}
    assert planning.plan_campaign(campaign=made) == 0
    c = shopper()
    assert planning.plan_campaign(campaign=made) == 1  # a new member joins; the rest untouched
    assert set(rows(made)) == {a.pk, b.pk, c.pk}
    assert all(d.status == "queued" and d.address for d in rows(made).values())


def test_only_the_segment_is_planned():
    inside, outside = shopper(preferred_language="en"), shopper(preferred_language="es")
    segment = Segment.objects.create(
        name="Eva",
        rules={
            "op": "all",
            "rules": [{"type": "profile", "field": "language", "op": "=", "value": "en"}],
        },
    )
    made = campaign(segment=segment)
    planning.plan_campaign(campaign=made)
    assert set(rows(made)) == {inside.pk}
    assert outside.pk not in rows(made)


def test_holdout_is_about_the_percent_stable_and_independent_between_campaigns():
    many(2000)
    first, second = campaign(holdout=20), campaign(holdout=20)
    planning.plan_campaign(campaign=first)
    planning.plan_campaign(campaign=second)
    held = {d.customer_id for d in rows(first).values() if d.reason == "holdout"}
    assert 330 <= len(held) <= 470  # 20 % of 2,000 ± 3.5 σ
    assert all(
        rows(first)[pk].status == "suppressed" and not rows(first)[pk].variant_id for pk in held
    )
    held_again = {d.customer_id for d in rows(second).values() if d.reason == "holdout"}
    assert held != held_again and len(held & held_again) < len(held) / 2
    # Stable: planned again from scratch, the same customers are held out.
    Delivery.objects.filter(campaign=first).delete()
    planning.plan_campaign(campaign=first)
    assert {d.customer_id for d in rows(first).values() if d.reason == "holdout"} == held


def test_variants_follow_the_split_percents():
    many(2000)
    made = campaign(splits=(("A", 70), ("B", 20), ("C", 10)))
    planning.plan_campaign(campaign=made)
    by_name = dict(CampaignVariant.objects.filter(campaign=made).values_list("pk", "name"))
    counts = {"A": 0, "B": 0, "C": 0}
    for d in rows(made).values():
        counts[by_name[d.variant_id]] += 1
    assert 1300 <= counts["A"] <= 1500 and 330 <= counts["B"] <= 470 and 120 <= counts["C"] <= 280


def test_channel_is_the_first_with_consent_and_address_in_campaign_order():
    email_only = shopper(consents=("email",), addresses=("email", "sms"))
    sms_only = shopper(consents=("sms", "email"), addresses=("sms",))
    both = shopper(consents=("email", "sms"), addresses=("email", "sms"))
    withdrawn = shopper(consents=("email", "sms"), addresses=("email",))
    consent(withdrawn, "email", ConsentState.WITHDRAWN)  # the latest row wins
    pending = shopper(consents=(), addresses=("email",))
    consent(pending, "email", ConsentState.PENDING)
    nothing = shopper(consents=(), addresses=())
    store = shopper(consents=("push",), addresses=(), home_store="mad")
    made = campaign(channels=("sms", "email", "store"))
    planning.plan_campaign(campaign=made)
    got = rows(made)
    assert got[email_only.pk].channel == "email"
    assert got[sms_only.pk].channel == "sms" and got[sms_only.pk].address.startswith("+34")
    assert got[both.pk].channel == "sms"
    assert (got[withdrawn.pk].status, got[withdrawn.pk].reason) == ("suppressed", "no_consent")
    assert (got[pending.pk].status, got[pending.pk].reason) == ("suppressed", "no_consent")
    assert (got[nothing.pk].status, got[nothing.pk].reason) == ("suppressed", "no_address")
    assert (got[store.pk].channel, got[store.pk].address) == ("store", "mad")


def test_preferred_channel_first_only_when_the_campaign_allows_it():
    fan = shopper(consents=("email", "push"), addresses=("email", "push"), preferred="push")
    lazy = shopper(consents=("email",), addresses=("email",), preferred="push")
    allowed = campaign(channels=("email", "push"), allow_preferred_channel=True)
    strict = campaign(channels=("email", "push"))
    planning.plan_campaign(campaign=allowed)
    planning.plan_campaign(campaign=strict)
    assert rows(allowed)[fan.pk].channel == "push"
    assert rows(allowed)[lazy.pk].channel == "email"  # preferred but not reachable there
    assert rows(strict)[fan.pk].channel == "email"


def test_both_paths_plan_the_same_rows(settings):
    many(300)
    shopper(consents=(), addresses=())
    shopper(consents=("sms",), addresses=("email",))
    shopper(consents=("email", "push"), addresses=("email", "push"), preferred="push")
    shopper(consents=("sms",), addresses=(), home_store="mad", preferred="store")
    made = campaign(
        holdout=10,
        splits=(("A", 50), ("B", 30), ("C", 20)),
        channels=("sms", "email", "push", "store"),
        allow_preferred_channel=True,
    )
    columns = ("customer_id", "variant_id", "channel", "status", "reason", "address")
    settings.OMNI_FAST_SQL = True
    planning.plan_campaign(campaign=made)
    fast = set(Delivery.objects.filter(campaign=made).values_list(*columns))
    Delivery.objects.filter(campaign=made).delete()
    settings.OMNI_FAST_SQL = False
    planning.plan_campaign(campaign=made)
    assert set(Delivery.objects.filter(campaign=made).values_list(*columns)) == fast


def test_a_suppressed_address_is_never_chosen_the_next_channel_is():
    from customers.services import suppress_address

    bounced = shopper(consents=("email", "sms"), addresses=("email", "sms"))
    only_email = shopper(consents=("email",), addresses=("email",))
    for customer in (bounced, only_email):
        suppress_address(kind="email", value=f"c{customer.pk}@example.com", reason="complaint")
    made = campaign(channels=("email", "sms"))
    planning.plan_campaign(campaign=made)
    got = rows(made)
    assert (got[bounced.pk].channel, got[bounced.pk].status) == ("sms", "queued")
    assert (got[only_email.pk].status, got[only_email.pk].reason) == ("suppressed", "no_address")
