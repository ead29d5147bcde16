"""A/B test with an automatic winner: a test group (a stable hash bucket) gets the variants by
their shares, the rest waits until the test ends and then gets the variant that did best."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns import planning, sending, services, tasks
from campaigns.exceptions import CampaignNotReady
from campaigns.models import Campaign, CampaignStatus, CampaignVariant, Delivery
from campaigns.services.ab_test import best_variant, choose_winner
from customers.models import Customer
from omni import roles
from tests.campaigns.pipeline import CONTENT, campaign, shopper
from tests.campaigns.test_planning import many
from tests.concurrency.conftest import run_in_threads
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
S = CampaignStatus
NOON = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # 12:00 in Madrid: no quiet hours
TEST_END = NOON + timedelta(hours=4)


@pytest.fixture(autouse=True)
def _daytime(settings):
    settings.CAMPAIGN_QUIET_HOURS = ("21:00", "09:00")
    settings.CAMPAIGN_CONTACT_BUDGET = (5, timedelta(days=7))


def ab_campaign(*, metric="clicks", percent=20, hours=4, status=S.SENDING, **fields):
    """Variants A and B (50/50) whose e-mail subjects tell them apart."""
    made = campaign(
        splits=(("A", 50), ("B", 50)),
        status=status,
        ab_winner_metric=metric,
        ab_test_percent=percent,
        ab_test_hours=hours,
        **fields,
    )
    for variant in made.variants.all():
        email = {**CONTENT["email"], "subject": f"Variant {variant.name}"}
        CampaignVariant.objects.filter(pk=variant.pk).update(content={"email": email})
    return made


def variant(made, name):
    return CampaignVariant.objects.get(campaign=made, name=name)


def snapshot(made):
    rows = Delivery.objects.filter(campaign=made).order_by("customer_id")
    return list(rows.values_list("customer_id", "variant_id", "status", "reason", "not_before"))


# --- Planning ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("sql_path")
def test_planning_puts_the_percent_in_the_test_group_and_the_rest_waits_stably():
    many(2000)
    made = ab_campaign(percent=20, holdout=10)
    planning.plan_campaign(campaign=made, now=NOON)
    rows = Delivery.objects.filter(campaign=made)
    holdout = rows.filter(reason="holdout").count()
    tested = rows.filter(status="queued", variant__isnull=False)
    waiting = rows.filter(status="queued", variant__isnull=True, reason="ab_wait")
    assert 145 <= holdout <= 255  # 10 % of 2,000 ± 3.5 σ
    assert 290 <= tested.count() <= 430  # 20 % of the 1,800 others ± 3.5 σ
    assert tested.count() + waiting.count() + holdout == 2000
    assert set(waiting.values_list("not_before", flat=True)) == {TEST_END}
    assert not tested.filter(not_before__isnull=False).exists()
    per_variant = Counter(tested.values_list("variant__name", flat=True))
    assert set(per_variant) == {"A", "B"} and min(per_variant.values()) > tested.count() / 3
    before = snapshot(made)
    assert planning.plan_campaign(campaign=made, now=NOON + timedelta(hours=1)) == 0
    assert snapshot(made) == before  # re-planning changes nothing
    rows.delete()
    planning.plan_campaign(campaign=made, now=NOON)
    assert snapshot(made) == before  # planned from scratch: the same groups


def test_both_sql_paths_plan_identical_rows(settings):
    many(300)
    made = ab_campaign(percent=30, holdout=10)
    settings.OMNI_FAST_SQL = True
    planning.plan_campaign(campaign=made, now=NOON)
    fast = snapshot(made)
    Delivery.objects.filter(campaign=made).delete()
    settings.OMNI_FAST_SQL = False
    planning.plan_campaign(campaign=made, now=NOON)
    assert snapshot(made) == fast
    assert {row[3] for row in fast} == {"", "holdout", "ab_wait"}


@pytest.mark.usefixtures("sql_path")
def test_the_test_group_is_independent_of_holdout_and_variant_buckets():
    many(2000)
    made = ab_campaign(percent=50, holdout=0)
    planning.plan_campaign(campaign=made, now=NOON)
    tested = Delivery.objects.filter(campaign=made, variant__isnull=False)
    counts = Counter(tested.values_list("variant__name", flat=True))
    # Were the buckets the same hash, the test half would be variant A only.
    assert 380 <= counts["A"] <= 620 and 380 <= counts["B"] <= 620


@pytest.mark.usefixtures("sql_path")
def test_without_a_winner_metric_nothing_changes():
    many(200)
    made = ab_campaign(metric="")
    planning.plan_campaign(campaign=made, now=NOON)
    rows = Delivery.objects.filter(campaign=made)
    assert not rows.filter(variant__isnull=True).exists()
    assert not rows.filter(reason="ab_wait").exists()


# --- Sending and the winner -------------------------------------------------------------------


def planned_ab(n=40, **kwargs):
    for _ in range(n):
        shopper()
    made = ab_campaign(percent=30, **kwargs)
    planning.plan_campaign(campaign=made, now=NOON)
    return made


def mark(made, name, status, count):
    """``count`` of variant ``name``'s sent deliveries get ``status``."""
    pks = Delivery.objects.filter(campaign=made, variant__name=name, status="sent").values_list(
        "pk", flat=True
    )[:count]
    Delivery.objects.filter(pk__in=list(pks)).update(status=status)


def test_the_rest_waits_until_the_test_ends_then_all_get_the_winner_by_clicks(outbox):
    made = planned_ab()
    tested = Delivery.objects.filter(campaign=made, variant__isnull=False).count()
    waiting = Delivery.objects.filter(campaign=made, reason="ab_wait").count()
    assert tested and waiting and tested + waiting == 40
    assert sending.send_batch(campaign_id=made.pk, now=NOON).sent == tested
    before_end = sending.send_batch(campaign_id=made.pk, now=TEST_END - timedelta(minutes=1))
    assert before_end.claimed == 0 and len(outbox) == tested
    mark(made, "B", "clicked", 2)
    mark(made, "A", "opened", 3)  # more opens for A, but the metric is clicks
    result = sending.send_batch(campaign_id=made.pk, now=TEST_END)
    assert result.sent == waiting
    made.refresh_from_db()
    assert made.winner == variant(made, "B") and made.winner_chosen_at == TEST_END
    rest = Counter(m.subject for m in outbox[tested:])
    assert rest == {"Variant B": waiting}
    assert Delivery.objects.filter(campaign=made, variant__name="B", sent_at=TEST_END).count() == (
        waiting
    )
    assert not Delivery.objects.filter(campaign=made, reason="ab_wait").exists()


def test_winner_by_opens_counts_opened_at_and_clicks(outbox):
    made = planned_ab(metric="opens")
    sending.send_batch(campaign_id=made.pk, now=NOON)
    a_rows = Delivery.objects.filter(campaign=made, variant__name="A", status="sent")
    a_rows.update(opened_at=NOON)  # every A opened (tracked by time only)
    mark(made, "B", "clicked", 1)
    sending.send_batch(campaign_id=made.pk, now=TEST_END)
    made.refresh_from_db()
    assert made.winner == variant(made, "A")
    assert {m.subject for m in outbox[-3:]} == {"Variant A"}


def rows_for(made, name, statuses):
    """Deliveries of variant ``name`` with these statuses (new customers, sent at noon)."""
    target = variant(made, name)
    people = Customer.objects.bulk_create([Customer(first_name="T") for _ in statuses])
    Delivery.objects.bulk_create(
        Delivery(campaign=made, customer=p, variant=target, status=s, sent_at=NOON)
        for p, s in zip(people, statuses, strict=True)
    )


def test_a_tie_on_opens_goes_to_more_clicks_then_to_the_first_variant():
    made = ab_campaign(metric="opens", status=S.SENDING)
    rows_for(made, "A", ["opened", "opened", "sent", "sent"])  # 50 % opens, 0 % clicks
    rows_for(made, "B", ["clicked", "sent"])  # 50 % opens, 50 % clicks
    assert choose_winner(campaign=made, now=TEST_END) == variant(made, "B")

    even = ab_campaign(metric="opens", status=S.SENDING)
    rows_for(even, "A", ["opened", "sent"])
    rows_for(even, "B", ["opened", "sent", "opened", "sent"])
    assert choose_winner(campaign=even, now=TEST_END) == variant(even, "A")  # the lowest pk


def test_best_variant_ranks_rates_not_counts():
    rows = [
        {"pk": 1, "reached": 100, "opens": 10, "clicks": 5, "conversions": 0},
        {"pk": 2, "reached": 10, "opens": 2, "clicks": 1, "conversions": 0},
        {"pk": 3, "reached": 0, "opens": 0, "clicks": 0, "conversions": 0},
    ]
    assert best_variant(rows, "opens") == 2
    assert best_variant(rows, "clicks") == 2
    assert best_variant(rows, "conversions") == 2  # tie → clicks
    assert best_variant([], "clicks") is None


def test_choose_winner_is_idempotent():
    made = ab_campaign(metric="clicks")
    rows_for(made, "B", ["clicked", "sent"])
    first = choose_winner(campaign=made, now=TEST_END)
    rows_for(made, "A", ["clicked"] * 5)  # A would win now, but the winner stays
    again = choose_winner(campaign=made, now=TEST_END + timedelta(hours=1))
    made.refresh_from_db()
    assert first == again == variant(made, "B") and made.winner_chosen_at == TEST_END


def test_without_a_metric_no_winner_is_chosen():
    made = ab_campaign(metric="")
    assert choose_winner(campaign=made, now=TEST_END) is None
    made.refresh_from_db()
    assert made.winner is None and made.winner_chosen_at is None


def test_paused_past_the_test_end_resuming_sends_the_rest_the_winner(outbox, marketer):
    made = planned_ab()
    tested = sending.send_batch(campaign_id=made.pk, now=NOON).sent
    services.pause_campaign(campaign=made, acting_user=marketer)
    assert sending.send_batch(campaign_id=made.pk, now=TEST_END).claimed == 0
    mark(made, "A", "clicked", 1)
    services.resume_campaign(campaign=made, acting_user=marketer)
    later = TEST_END + timedelta(hours=2)
    sending.send_batch(campaign_id=made.pk, now=later)
    made.refresh_from_db()
    assert made.winner == variant(made, "A") and made.winner_chosen_at == later
    assert {m.subject for m in outbox[tested:]} == {"Variant A"} and len(outbox) == 40


def test_the_task_comes_back_at_the_test_end_then_sends_the_rest(outbox, monkeypatch, settings):
    settings.CAMPAIGN_QUIET_HOURS = ("00:00", "00:00")
    for _ in range(30):
        shopper()
    made = ab_campaign(percent=40, hours=6)
    now = timezone.now()
    planning.plan_campaign(campaign=made, now=now)
    later = []
    monkeypatch.setattr(
        tasks.send_campaign_task, "apply_async", lambda args, eta: later.append((args, eta))
    )
    tested = tasks.send_campaign_task(made.pk)
    assert later == [((made.pk,), now + timedelta(hours=6))]
    # Six hours later (the rows' time is moved back instead), the task sends the rest.
    Delivery.objects.filter(campaign=made, reason="ab_wait").update(
        not_before=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.send_campaign_task(made.pk) == 30 - tested
    made.refresh_from_db()
    assert made.status == S.FINISHED and made.winner is not None
    assert len(outbox) == 30 and len(later) == 1
    winner_subject = f"Variant {made.winner.name}"
    assert sum(m.subject == winner_subject for m in outbox[tested:]) == 30 - tested


# --- Refusals ---------------------------------------------------------------------------------


def test_a_winner_needs_two_variants_to_schedule_or_start(marketer):
    shopper()
    single = campaign(ab_winner_metric="clicks")
    with pytest.raises(CampaignNotReady) as refused:
        services.schedule_campaign(campaign=single, acting_user=marketer)
    assert "ab_winner_metric" in refused.value.fields
    Campaign.objects.filter(pk=single.pk).update(status=S.SCHEDULED, send_at=NOON)
    with pytest.raises(CampaignNotReady):
        services.start_campaign(campaign=single, acting_user=marketer)
    assert services.start_due_campaigns(now=TEST_END) == 0  # skipped, not a crash
    single.refresh_from_db()
    assert single.status == S.SCHEDULED
    two = ab_campaign(status=S.DRAFT)
    assert services.schedule_campaign(campaign=two, acting_user=marketer).status == S.SCHEDULED


# --- Concurrency --------------------------------------------------------------------------------


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_the_test_end_choose_one_winner_without_deadlock(outbox):
    made = planned_ab(n=60)
    tested = sending.send_batch(campaign_id=made.pk, now=NOON).sent
    mark(made, "B", "clicked", 2)

    def worker(i):
        sent = 0
        while (result := sending.send_batch(campaign_id=made.pk, limit=5, now=TEST_END)).claimed:
            sent += result.sent
        return sent

    results = run_in_threads(worker, 2, timeout=60)
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 60 - tested
    made.refresh_from_db()
    assert made.winner == variant(made, "B")
    assert {m.subject for m in outbox[tested:]} == {"Variant B"}
    assert Counter(m.metadata["delivery_id"] for m in outbox).most_common(1)[0][1] == 1


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_choose_winner_in_two_threads_stores_one_winner():
    made = ab_campaign(metric="clicks")
    rows_for(made, "A", ["clicked", "sent"])
    moments = [TEST_END, TEST_END + timedelta(seconds=1)]
    results = run_in_threads(lambda i: choose_winner(campaign=made, now=moments[i]), 2)
    assert results[0] == results[1] == variant(made, "A")
    made.refresh_from_db()
    assert made.winner_chosen_at in moments


# --- The marketer's screens ---------------------------------------------------------------------


@pytest.fixture
def client(db):
    client = Client()
    client.force_login(UserFactory(role=roles.MARKETER))
    return client


def test_results_page_shows_the_variants_and_the_waiting_rest(
    client, outbox, django_assert_max_num_queries
):
    made = planned_ab()
    tested = sending.send_batch(campaign_id=made.pk, now=NOON).sent
    mark(made, "B", "clicked", 1)
    url = reverse("admin:campaigns_campaign_results", args=[made.pk])
    # 12 for the chart, groups and variants; 5 for the sales credited and the uplift (fixed
    # aggregates, whatever the audience: tests/campaigns/test_campaign_sales.py).
    with django_assert_max_num_queries(17):
        page = client.get(url).content.decode()
    assert 'id="results-variants"' in page and 'id="results-winner"' not in page
    assert f"The rest ({40 - tested} shoppers) gets the winner at" in page
    sending.send_batch(campaign_id=made.pk, now=TEST_END)
    response = client.get(url)
    page = response.content.decode()
    assert 'id="results-winner"' in page and "by clicks" in page
    assert 'id="results-waiting"' not in page
    ab = response.context_data["ab"]
    # The rates stay the test group's: the rest that got the winner is counted apart.
    assert sum(row["reached"] for row in ab["variants"]) == tested
    assert ab["rest_reached"] == 40 - tested and ab["winner"]["name"] == "B"
    assert f"The winner reached {40 - tested} more shoppers" in page


def test_results_of_a_single_variant_campaign_have_no_variant_table(client):
    page = client.get(reverse("admin:campaigns_campaign_results", args=[campaign().pk]))
    assert 'id="results-variants"' not in page.content.decode()


def test_the_editor_groups_the_ab_fields_and_refuses_a_winner_with_one_variant(client):
    from tests.campaigns.test_campaign_admin import form_data

    add = reverse("admin:campaigns_campaign_add")
    page = client.get(add).content.decode()
    assert "A/B test" in page and 'name="ab_winner_metric"' in page
    response = client.post(add, form_data(ab_winner_metric="clicks"))
    assert response.status_code == 200 and not Campaign.objects.exists()
    assert "needs at least two variants" in response.content.decode()
    two = form_data(
        ab_winner_metric="clicks",
        ab_test_percent="25",
        ab_test_hours="6",
        **{
            "variants-TOTAL_FORMS": "2",
            "variants-0-split_percent": "50",
            "variants-1-name": "B",
            "variants-1-split_percent": "50",
            "variants-1-email_subject": "Hola",
            "variants-1-email_html": "<p>B</p>",
        },
    )
    assert client.post(add, two).status_code == 302
    made = Campaign.objects.get()
    assert (made.ab_winner_metric, made.ab_test_percent, made.ab_test_hours) == ("clicks", 25, 6)
