"""The campaign editor for marketers: the form, the lifecycle buttons, preview, test send,
progress and results."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.admin_campaigns import BUTTONS, legal_buttons
from campaigns.models import Campaign, CampaignStatus, CampaignVariant, Delivery
from customers.models import Customer
from omni import roles
from tests.campaigns.pipeline import campaign, shopper
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
S = CampaignStatus
ADD = reverse("admin:campaigns_campaign_add")
CHANGELIST = reverse("admin:campaigns_campaign_changelist")


@pytest.fixture
def marketer_user(db):
    return UserFactory(role=roles.MARKETER, email="marketing@omni.example")


@pytest.fixture
def client(marketer_user):
    client = Client()
    client.force_login(marketer_user)
    return client


def url(name, made, *args):
    return reverse(f"admin:campaigns_campaign_{name}", args=[made.pk, *args])


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def form_data(**overrides):
    data = {
        "name": "Spring sale",
        "goal": "Bring back lapsed shoppers",
        "description": "",
        "segment": "",
        "holdout_percent": "10",
        "channels": ["sms", "email"],
        "send_at_0": "",
        "send_at_1": "",
        "recurrence": "",
        "priority": "normal",
        "promotion": "",
        "variants-TOTAL_FORMS": "1",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "1",
        "variants-MAX_NUM_FORMS": "1000",
        "variants-0-name": "A",
        "variants-0-split_percent": "100",
        "variants-0-email_subject": "Hola {{ customer.first_name }}",
        "variants-0-email_html": "<p>Tu código: {{ coupon_code }}</p>",
        "variants-0-sms_body": "Hola {{ customer.first_name }}",
    }
    data.update(overrides)
    return data


def test_sending_rates_are_a_number_box_per_channel(client):
    page = client.get(ADD).content.decode()
    for channel in ("email", "sms", "push", "store"):
        assert f'name="send_rates_{channel}"' in page
    response = client.post(ADD, form_data(send_rates_sms="600", send_rates_email=""))
    assert response.status_code == 302, response.context["adminform"].form.errors
    made = Campaign.objects.get()
    assert made.send_rates == {"sms": 600}
    page = client.get(url("change", made)).content.decode()
    assert 'name="send_rates_sms" value="600"' in page


@pytest.mark.parametrize("bad", ["0", "-5", "fast", "1.5", "99999999"])
def test_a_bad_sending_rate_is_a_form_error(client, bad):
    response = client.post(ADD, form_data(send_rates_push=bad))
    assert response.status_code == 200
    assert "send_rates" in response.context["adminform"].form.errors
    assert not Campaign.objects.exists()


# --- Permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [None, roles.STORE_STAFF])
def test_staff_without_the_campaign_role_are_turned_away(role):
    other = Client()
    other.force_login(UserFactory(role=role) if role else UserFactory(is_staff=True))
    made = campaign()
    for target in (url("change", made), url("progress", made), url("preview", made)):
        assert other.get(target).status_code == 403
    assert other.post(url("lifecycle", made, "cancel")).status_code == 403
    assert other.post(url("test_send", made)).status_code == 403
    made.refresh_from_db()
    assert made.status == S.DRAFT


def test_lifecycle_and_test_send_need_post(client):
    made = campaign()
    assert client.get(url("lifecycle", made, "cancel")).status_code == 405
    assert client.get(url("test_send", made)).status_code == 405


# --- The editor -------------------------------------------------------------------------------


def test_marketer_creates_a_campaign_with_channels_in_priority_order(client, marketer_user):
    response = client.post(ADD, form_data())
    assert response.status_code == 302, response.context["adminform"].form.errors
    made = Campaign.objects.get()
    assert made.channels == ["sms", "email"]
    assert made.created_by == marketer_user
    assert made.variants.get().content == {
        "email": {
            "subject": "Hola {{ customer.first_name }}",
            "html": form_data()["variants-0-email_html"],
        },
        "sms": {"body": "Hola {{ customer.first_name }}"},
    }


def test_the_change_form_lists_ticked_channels_first(client):
    made = campaign(channels=("push", "email"))
    page = client.get(url("change", made)).content.decode()
    assert page.index('value="push"') < page.index('value="email"') < page.index('value="sms"')


@pytest.mark.parametrize(
    ("field", "source", "expected"),
    [
        ("variants-0-email_html", "<p>ok</p>\n{{ favourite_colour }}", "Line 2"),
        ("variants-0-email_subject", "{% if %}", "Line 1"),
        ("variants-0-sms_body", "{% load static %}", "Line 1"),
    ],
)
def test_a_bad_template_is_a_form_error_with_its_line(client, field, source, expected):
    response = client.post(ADD, form_data(**{field: source}))
    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][0].formset.forms[0]
    name = field.removeprefix("variants-0-")
    assert any(expected in e for e in inline.errors[name]), inline.errors
    assert not Campaign.objects.exists()


def test_a_missing_required_part_is_named(client):
    response = client.post(ADD, form_data(**{"variants-0-email_subject": ""}))
    inline = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert "email_subject" in inline.errors
    assert not Campaign.objects.exists()


def test_duplicate_channels_are_refused(client):
    response = client.post(ADD, form_data(channels=["email", "email"]))
    assert response.status_code == 200
    assert "channels" in response.context["adminform"].form.errors


def test_a_campaign_out_of_draft_is_read_only(client):
    made = campaign(status=S.SCHEDULED)
    response = client.post(url("change", made), form_data(name="Renamed"))
    made.refresh_from_db()
    assert made.name == "Spring"
    assert response.status_code in (200, 302)


# --- Lifecycle buttons ------------------------------------------------------------------------

EXPECTED = {
    ("schedule", S.DRAFT): S.SCHEDULED,
    ("send_now", S.DRAFT): S.SENDING,
    ("send_now", S.SCHEDULED): S.SENDING,
    ("unschedule", S.SCHEDULED): S.DRAFT,
    ("pause", S.SENDING): S.PAUSED,
    ("resume", S.PAUSED): S.SENDING,
    ("cancel", S.DRAFT): S.CANCELLED,
    ("cancel", S.SCHEDULED): S.CANCELLED,
    ("cancel", S.SENDING): S.CANCELLED,
    ("cancel", S.PAUSED): S.CANCELLED,
}
CASES = [(action, status) for action in BUTTONS for status in S.values]


@pytest.mark.parametrize(("action", "status"), CASES)
def test_each_button_works_when_legal_and_changes_nothing_otherwise(client, action, status):
    shopper()
    made = campaign(status=status)
    page = client.get(url("change", made)).content.decode()
    shown = f'value="{action}"' in page
    response = client.post(url("lifecycle", made, action))
    assert response.status_code == 302 and response["Location"] == url("change", made)
    made.refresh_from_db()
    expected = EXPECTED.get((action, status))
    assert shown == (expected is not None)
    if expected is None:
        assert made.status == status and not made.history.exists()
        assert any("cannot do this" in t for t in texts(response))
    else:
        assert made.status == expected
        assert made.history.last().to_status == expected


def test_schedule_of_an_unready_campaign_names_what_is_missing(client):
    made = Campaign.objects.create(name="Empty")
    response = client.post(url("lifecycle", made, "schedule"))
    made.refresh_from_db()
    assert made.status == S.DRAFT
    messages = " ".join(texts(response))
    assert "Choose the audience segment or upload an audience list." in messages
    assert "Write the content of at least one variant." in messages


def test_send_now_of_an_unready_draft_stays_a_draft(client):
    made = Campaign.objects.create(name="Empty")
    client.post(url("lifecycle", made, "send_now"))
    made.refresh_from_db()
    assert made.status == S.DRAFT and not made.history.exists()


def test_schedule_keeps_a_future_send_time(client):
    later = timezone.now() + timedelta(days=2)
    made = campaign(send_at=later)
    client.post(url("lifecycle", made, "schedule"))
    made.refresh_from_db()
    assert (made.status, made.send_at) == (S.SCHEDULED, later)


def test_an_unknown_action_is_404(client):
    assert client.post(url("lifecycle", campaign(), "explode")).status_code == 404


def test_legal_buttons_follow_the_status():
    assert [n for n, _label in legal_buttons(S.SENDING)] == ["pause", "cancel"]
    assert legal_buttons(S.FINISHED) == []


# --- Preview and test send --------------------------------------------------------------------


@pytest.fixture
def risky():
    return shopper(first_name='<script>alert("x")</script>Zoë', last_name="Ruiz")


def test_preview_renders_for_the_customer_escaped(client, risky):
    made = campaign(channels=("email", "sms"))
    response = client.get(url("preview", made), {"customer": risky.pk, "channel": "email"})
    assert response.status_code == 200
    page = response.content.decode()
    assert '<script>alert("x")</script>' not in page
    assert "Hola &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;Zoë" in page  # the subject
    assert "As &lt;script&gt;" in page
    rendered = response.context_data["rendered"]
    assert rendered.subject == 'Hola <script>alert("x")</script>Zoë'
    assert "/c/u/" in rendered.html  # the customer's own unsubscribe link, as sent


def test_preview_of_each_channel(client, risky):
    made = campaign(channels=("email", "sms", "push"))
    sms = client.get(url("preview", made), {"customer": risky.pk, "channel": "sms"})
    assert sms.context_data["rendered"].body.startswith('Hola <script>alert("x")</script>Zoë')
    assert "segment(s)" in sms.content.decode()
    push = client.get(url("preview", made), {"customer": risky.pk, "channel": "push"})
    assert push.context_data["rendered"].subject == "Hola"


@pytest.mark.parametrize("bad", ["abc", "-1", "99999999999", "1\x00", "９"])
def test_preview_with_a_bad_customer_falls_back_to_the_sample(client, bad):
    response = client.get(url("preview", campaign()), {"customer": bad, "channel": "fax"})
    assert response.status_code == 200
    context = response.context_data
    assert context["customer"] is None and context["channel"] == "email"
    assert context["rendered"].subject == "Hola Alex"


def test_preview_search_finds_customers(client, risky):
    response = client.get(url("preview", campaign()), {"q": "Ruiz"})
    assert [c.pk for c in response.context_data["matches"]] == [risky.pk]


def test_test_send_lands_in_the_outbox(
    client, risky, outbox, marketer_user, django_capture_on_commit_callbacks
):
    made = campaign()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("test_send", made), {"customer": risky.pk})
    assert response.status_code == 302
    [message] = outbox
    assert message.to == marketer_user.email
    assert message.subject.startswith("[Test] Hola <script>")
    assert "sample-token" in message.html  # not the customer's real unsubscribe link
    assert message.metadata == {"campaign_id": made.pk, "test": True}
    assert not Delivery.objects.exists()


def test_test_send_of_a_variant_without_email_sends_nothing(client, outbox):
    made = campaign(channels=("sms",))
    response = client.post(url("test_send", made))
    assert outbox == []
    assert any("no content" in t for t in texts(response))


# --- Progress and results ---------------------------------------------------------------------


def deliveries(made, statuses):
    people = [Customer.objects.create(first_name=f"P{n}") for n in range(len(statuses))]
    now = timezone.now()
    Delivery.objects.bulk_create(
        Delivery(
            campaign=made,
            customer=person,
            status=status,
            reason=reason,
            sent_at=now if status in ("sent", "opened", "clicked") else None,
            opened_at=now if status in ("opened", "clicked") else None,
            clicked_at=now if status == "clicked" else None,
        )
        for person, (status, reason) in zip(people, statuses, strict=True)
    )


MIX = [
    ("queued", ""),
    ("sent", ""),
    ("sent", ""),
    ("opened", ""),
    ("clicked", ""),
    ("suppressed", "holdout"),
    ("suppressed", "cap"),
    ("failed", "error"),
]


def test_progress_json_counts(client, django_assert_max_num_queries):
    made = campaign(status=S.SENDING)
    deliveries(made, MIX)
    with django_assert_max_num_queries(6):  # session, user, permissions, campaign, counts
        response = client.get(url("progress", made))
    body = response.json()
    assert "no-store" in response["Cache-Control"]
    assert body["counts"] == {
        "queued": 1, "sent": 2, "failed": 1, "suppressed": 2, "opened": 1, "clicked": 1,
        "converted": 0,
    }  # fmt: skip
    assert body["suppressed"]["holdout"] == 1 and body["suppressed"]["cap"] == 1
    assert (body["total"], body["done"], body["percent"], body["active"]) == (8, 7, 88, True)


def test_the_change_form_shows_the_progress(client):
    made = campaign(status=S.SENDING)
    deliveries(made, MIX)
    page = client.get(url("change", made)).content.decode()
    assert 'aria-valuenow="88"' in page and "7 of 8 handled" in page


def test_changelist_queries_are_bounded(client, django_assert_max_num_queries):
    segment = campaign().segment
    for n in range(12):
        Campaign.objects.create(name=f"C{n}", segment=segment, channels=["email", "sms"])
    with django_assert_max_num_queries(7):  # whatever the number of campaigns
        response = client.get(CHANGELIST)
    assert response.status_code == 200 and "C11" in response.content.decode()


def test_results_page_charts_and_compares_groups(client):
    made = campaign(status=S.FINISHED)
    deliveries(made, MIX)
    Delivery.objects.filter(campaign=made, status="sent").update(
        sent_at=timezone.now() - timedelta(hours=3)
    )
    response = client.get(url("results", made))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="results-chart"' in page and page.count("<polyline") == 3
    groups = response.context_data["groups"]
    assert (groups["treated"], groups["holdout"], groups["opened"], groups["clicked"]) == (
        4, 1, 2, 1,
    )  # fmt: skip
    series = response.context_data["series"]
    assert series.hours == 5 and sum(series.sends) == 4
    assert series.sends[:2] == [0, 2] and series.sends[-1] == 2 and series.clicks[-1] == 1
    assert "Sent: 4" in page and "Clicked: 1" in page


def test_the_chart_keeps_svg_numbers_in_spanish(client):
    import re

    made = campaign(status=S.FINISHED)
    deliveries(made, MIX)
    Delivery.objects.filter(campaign=made, status="sent").update(
        sent_at=timezone.now() - timedelta(hours=3)
    )
    page = client.get(url("results", made), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Envíos, aperturas y clics por hora" in page
    xs = re.findall(r'<text x="([^"]+)"', page)
    assert xs and all(re.fullmatch(r"-?\d+(\.\d+)?", x) for x in xs), xs  # no decimal commas


def test_results_page_of_an_unsent_campaign(client):
    response = client.get(url("results", campaign()))
    assert response.status_code == 200 and 'id="results-empty"' in response.content.decode()


def test_variant_without_content_is_readable(client):
    made = campaign(status=S.FINISHED)
    CampaignVariant.objects.filter(campaign=made).update(content={})
    assert client.get(url("change", made)).status_code == 200


def test_the_previewed_html_is_escaped_into_the_sandboxed_frame(client, risky):
    made = campaign()
    page = client.get(url("preview", made), {"customer": risky.pk}).content.decode()
    frame = page[page.index('<iframe class="pv-frame"') :]
    frame = frame[: frame.index("</iframe>")]
    assert 'sandbox=""' in frame
    assert 'srcdoc="&lt;p&gt;' in frame and "<p>" not in frame and "<script" not in frame


@pytest.mark.parametrize(("status", "allowed"), [(S.DRAFT, True), (S.FINISHED, False)])
def test_only_a_draft_may_be_deleted(client, status, allowed):
    made = campaign(status=status)
    response = client.post(url("delete", made), {"post": "yes"})
    assert Campaign.objects.filter(pk=made.pk).exists() is not allowed
    assert response.status_code == (302 if allowed else 403)


def test_a_form_saved_after_the_campaign_left_draft_changes_nothing(client, monkeypatch):
    """The marketer's page was a draft; meanwhile the campaign was scheduled: the save is
    refused (nothing written, variants included) and the status stays the lifecycle's."""
    from campaigns.admin_campaigns import CampaignAdmin

    made = campaign()
    stale = Campaign.objects.get(pk=made.pk)
    Campaign.objects.filter(pk=made.pk).update(status=S.SCHEDULED)
    monkeypatch.setattr(CampaignAdmin, "get_object", lambda self, request, object_id, f=None: stale)
    variant = made.variants.get()
    data = form_data(
        name="Renamed",
        **{
            "variants-INITIAL_FORMS": "1",
            "variants-0-id": str(variant.pk),
            "variants-0-campaign": str(made.pk),
            "variants-0-email_subject": "Changed",
        },
    )
    response = client.post(url("change", made), data)
    assert response.status_code == 302
    made.refresh_from_db()
    variant.refresh_from_db()
    assert (made.name, made.status) == ("Spring", S.SCHEDULED)
    assert variant.content["email"]["subject"] != "Changed"
    assert any("left the draft status" in t for t in texts(response))


def test_saving_a_draft_writes_its_fields(client):
    made = campaign()
    variant = made.variants.get()
    data = form_data(
        name="Renamed",
        channels=["email"],
        **{
            "variants-INITIAL_FORMS": "1",
            "variants-0-id": str(variant.pk),
            "variants-0-campaign": str(made.pk),
            "variants-0-email_subject": "Changed {{ customer.first_name }}",
            "variants-0-sms_body": "",
        },
    )
    response = client.post(url("change", made), data)
    assert response.status_code == 302
    made.refresh_from_db()
    variant.refresh_from_db()
    assert (made.name, made.status, made.holdout_percent) == ("Renamed", S.DRAFT, 10)
    assert variant.content["email"]["subject"] == "Changed {{ customer.first_name }}"
    assert "sms" not in variant.content
