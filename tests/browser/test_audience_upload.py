"""A marketer, on a 1024×768 tablet, uploads a CSV audience for a draft campaign from the
campaign page, reads the summary with its invalid lines, and removes the list again.
Screenshots go to /tmp/shots-csv/ when that folder exists."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from campaigns.models import AudienceMember, Campaign
from customers.models import Channel, Identity, IdentityKind
from omni.roles import MARKETER
from tests.browser.helpers import make_staff, sign_in
from tests.campaigns.pipeline import campaign, shopper

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("roles"),
]
SHOTS = Path("/tmp/shots-csv")
CSV = (
    "email;nombre\n"
    "ana@example.com;Ana\n"
    "EVA@example.com ;Eva\n"
    "ana@example.com;Ana otra vez\n"
    "guest@example.com;Invitada\n"
    "no-es-un-correo;Luis\n"
)


def _shot(page, name):
    if SHOTS.is_dir():
        page.screenshot(path=str(SHOTS / name), full_page=True)


def world():
    for email, verified in (("ana@example.com", True), ("eva@example.com", True)):
        Identity.objects.create(
            customer=shopper(), kind=IdentityKind.EMAIL, value=email, verified=verified,
            source=Channel.WEB,
        )  # fmt: skip
    Identity.objects.create(  # typed at a guest checkout: never matched
        customer=shopper(), kind=IdentityKind.EMAIL, value="guest@example.com", source=Channel.WEB
    )
    made = campaign()
    Campaign.objects.filter(pk=made.pk).update(name="Vuelta al cole")
    return made, make_staff("marketing@example.com", MARKETER)


def test_a_marketer_uploads_reads_the_summary_and_removes_the_list(page, tmp_path):
    made, user = world()
    page.set_viewport_size({"width": 1024, "height": 768})
    change = f"/admin/campaigns/campaign/{made.pk}/change/"
    sign_in(page, user.email, start=change)
    block = page.locator("#campaign-audience")
    expect(block).to_contain_text("No list uploaded.")
    page.click("#campaign-audience-upload")
    expect(page.locator("#audience-upload")).to_contain_text("customer_id")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("email\nJosé@example.com\n".encode("latin-1"))
    page.set_input_files("input[name=file]", str(bad))
    page.click("#audience-form button[type=submit]")
    expect(page.locator("#audience-form .errorlist")).to_contain_text("Line 2 is not UTF-8")
    _shot(page, "upload-error.png")
    good = tmp_path / "clientes-vip.csv"
    good.write_text(CSV, encoding="utf-8-sig")
    page.set_input_files("input[name=file]", str(good))
    page.click("#audience-form button[type=submit]")
    expect(page.locator("#audience-matched")).to_have_text("2")
    expect(page.locator("#audience-invalid-lines")).to_contain_text(
        "Line 6: not a valid e-mail address"
    )
    _shot(page, "upload-summary.png")
    page.click("text=Back to the campaign")
    expect(block).to_contain_text("clientes-vip.csv")
    expect(block).to_contain_text("2 customers matched")
    block.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "campaign-block.png")) if SHOTS.is_dir() else None
    page.click("#campaign-audience-clear")
    expect(page.locator(".messagelist")).to_contain_text("The uploaded audience was removed.")
    expect(block).to_contain_text("No list uploaded.")
    assert not AudienceMember.objects.exists()
    assert Campaign.objects.get(pk=made.pk).audience_uploaded_at is None
