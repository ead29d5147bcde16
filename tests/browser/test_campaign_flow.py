"""A marketer, on a 1024×768 tablet: writes a campaign e-mail with a personal coupon for a
seeded segment, previews it for a customer, test-sends it to themselves, schedules it and
watches the progress bar fill while the campaign sends. Screenshots go to /tmp/helpers/shots/."""

from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from campaigns import services
from campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Segment
from omni.roles import MARKETER
from orders.models import Promotion
from tests.browser.helpers import make_staff, sign_in
from tests.campaigns.pipeline import EVERYONE, shopper

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("roles"),
]
SHOTS = Path("/tmp/helpers/shots")
HTML = (
    "<h1>Hola {{ customer.first_name }}</h1>\n"
    "<p>Tu código personal: <strong>{{ coupon_code }}</strong></p>\n"
    '<p><a href="{{ unsubscribe_url }}">Darse de baja</a></p>'
)


def _shot(page, name):
    if SHOTS.is_dir():
        page.screenshot(path=str(SHOTS / name), full_page=False)


@pytest.fixture(autouse=True)
def _no_quiet_hours(settings):
    settings.CAMPAIGN_QUIET_HOURS = ("00:00", "00:00")  # the test sends now, whatever the hour


def world():
    Segment.objects.create(name="Todos los clientes", rules=EVERYONE)
    Promotion.objects.create(name="Vuelta 15 %", kind="percentage", value=Decimal("15"))
    shopper(first_name='Zoë <b>"Z"</b>', last_name="Ruiz")
    for n in range(5):
        shopper(first_name=f"Cliente{n}", last_name="Prueba")
    return make_staff("marketing@example.com", MARKETER)


def write_campaign(page):
    page.fill("input[name=name]", "Vuelta al cole")
    page.fill("input[name=goal]", "Recuperar clientes")
    page.select_option("select[name=segment]", label="Todos los clientes")
    page.fill("input[name=holdout_percent]", "0")
    page.select_option("select[name=promotion]", str(Promotion.objects.get().pk))
    # SMS second: tick it, move it up above e-mail, then back down below it
    page.check("input[name=channels][value=sms]")
    page.locator("#id_channels > div", has=page.locator("input[value=sms]")).locator(
        "button.ch-up"
    ).click()
    order = page.eval_on_selector_all("input[name=channels]", "els => els.map(e => e.value)")
    assert order[:2] == ["sms", "email"]
    page.locator("#id_channels").scroll_into_view_if_needed()
    _shot(page, "campaign_channels.png")
    page.locator("#id_channels > div", has=page.locator("input[value=email]")).locator(
        "button.ch-up"
    ).click()
    page.fill("input[name=variants-0-name]", "A")
    page.fill("textarea[name=variants-0-sms_body]", "{{ customer.first_name }}: {{ coupon_code }}")
    page.fill("input[name=variants-0-email_subject]", "{{ customer.first_name }}, un regalo")
    page.fill("textarea[name=variants-0-email_html]", HTML)


def test_marketer_writes_previews_test_sends_schedules_and_watches_progress(page, outbox):
    marketer = world()
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, "marketing@example.com", start="/admin/campaigns/campaign/add/")

    write_campaign(page)
    # a typo in the template is refused with its line, on the field
    page.fill("textarea[name=variants-0-email_html]", HTML + "\n{{ cupon }}")
    with page.expect_navigation():
        page.click("input[name=_continue]")
    assert "Line 4" in page.locator("#variants-0 .field-email_html .errorlist").inner_text()
    page.fill("textarea[name=variants-0-email_html]", HTML)
    with page.expect_navigation():
        page.click("input[name=_continue]")
    made = Campaign.objects.get()
    assert "/change/" in page.url and made.promotion is not None
    assert made.channels == ["email", "sms"]
    page.locator("#campaign-panel").scroll_into_view_if_needed()
    _shot(page, "campaign_editor.png")
    page.locator("#variants-0 .field-email_html").scroll_into_view_if_needed()
    _shot(page, "campaign_editor_content.png")

    # preview for a customer found by name: the name escaped, the coupon placeholder
    with page.expect_navigation():
        page.click("text=Preview and test send")
    page.fill("#pv-q", "Ruiz")
    with page.expect_navigation():
        page.click("#preview-choice button[type=submit]")
    with page.expect_navigation():
        page.click("#preview-matches a")
    assert page.locator("#preview-subject").inner_text() == 'Zoë <b>"Z"</b>, un regalo'
    frame = page.frame_locator("#preview-html")
    assert frame.locator("h1").inner_text() == 'Hola Zoë <b>"Z"</b>'
    assert "PREVIEW-COUPON" in frame.locator("strong").inner_text()
    _shot(page, "campaign_preview.png")

    with page.expect_navigation():
        page.click("#test-send button")
    assert "marketing@example.com" in page.locator(".messagelist").inner_text()
    [test] = outbox
    assert test.to == marketer.email and test.subject.startswith("[Test] Zoë")

    # schedule, then the campaign starts (as Celery beat would) and the open page follows it
    page.goto(f"/admin/campaigns/campaign/{made.pk}/change/")
    with page.expect_navigation():
        page.click("button[value=schedule]")
    assert page.locator("#campaign-status").inner_text() == "Scheduled"
    assert page.locator("button[value=pause]").count() == 0
    services.start_campaign(campaign=made, acting_user=None)  # plans and sends (eager Celery)
    # the page polls, sees the campaign finish and reloads with the buttons of its new status
    expect(page.locator("#campaign-status")).to_have_text("Finished", timeout=20_000)
    expect(page.locator("#campaign-bar")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#campaign-panel button")).to_have_count(0)
    sent = page.locator("#campaign-counts li[data-status=sent] strong").inner_text()
    assert sent == "6" == str(Delivery.objects.filter(status=DeliveryStatus.SENT).count())
    assert page.locator("#campaign-done").inner_text() == "6 of 6 handled"
    codes = {m.html.split("<strong>")[1].split("</strong>")[0] for m in outbox[1:]}
    assert len(outbox) == 7 and len(codes) == 6 and "PREVIEW-COUPON" not in codes
    made.refresh_from_db()
    assert made.status == CampaignStatus.FINISHED
    page.locator("#campaign-panel").scroll_into_view_if_needed()
    _shot(page, "campaign_progress.png")

    with page.expect_navigation():
        page.click("text=Results")
    assert page.locator("#results-chart polyline").count() == 3
    assert "6" in page.locator("#results-groups").inner_text()
    _shot(page, "campaign_results.png")
