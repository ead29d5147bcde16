"""A campaign's audience uploaded as a CSV of identifiers: layouts, normalisation, matching only
proven identities of live customers, replacing the previous list, refusing bad files whole,
planning from the list (both SQL paths) and the admin's upload page."""

import io

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from campaigns import planning, services
from campaigns.exceptions import AudienceLocked, CampaignNotReady, InvalidAudienceFile
from campaigns.models import AudienceMember, Campaign, CampaignStatus, Delivery, Segment
from campaigns.services import audience_upload
from customers.models import Channel, Customer, CustomerStatus, Identity, IdentityKind
from omni import roles
from tests.campaigns.pipeline import campaign, shopper
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
S = CampaignStatus


def person(*, email=None, phone=None, verified=True, **profile) -> Customer:
    """A live customer reachable by e-mail (``shopper``), with these identities added."""
    customer = shopper(**profile)
    for kind, value in ((IdentityKind.EMAIL, email), (IdentityKind.PHONE, phone)):
        if value:
            Identity.objects.create(
                customer=customer, kind=kind, value=value, verified=verified, source=Channel.WEB
            )
    return customer


def upload(made, content, *, name="list.csv", user=None) -> dict:
    data = content.encode() if isinstance(content, str) else content
    return services.upload_audience(
        campaign=made, file=io.BytesIO(data), file_name=name, acting_user=user
    )


def members(made) -> set[int]:
    return set(AudienceMember.objects.filter(campaign=made).values_list("customer_id", flat=True))


def without_segment(**fields) -> Campaign:
    made = campaign(**fields)
    Campaign.objects.filter(pk=made.pk).update(segment=None)
    made.refresh_from_db()
    return made


# --- Layouts and normalisation ---------------------------------------------------------------


def test_a_header_names_the_email_column_in_any_case_with_a_bom_and_other_columns():
    ana, eva = person(email="ana@example.com"), person(email="eva@example.com")
    made = campaign()
    text = "\ufeffName,E-MAIL,City\nAna, ANA@Example.com ,Madrid\nEva,eva@example.com,Sevilla\n"
    summary = upload(made, text)
    assert members(made) == {ana.pk, eva.pk}
    assert (summary["rows"], summary["matched"], summary["unmatched"]) == (2, 2, 0)
    made.refresh_from_db()
    assert made.audience_file_name == "list.csv" and made.audience_uploaded_at
    assert made.audience_stats["matched"] == 2


@pytest.mark.parametrize("header", ["teléfono", "Telefono", "PHONE"])
def test_semicolons_and_phones_normalised_to_e164(header):
    ana = person(phone="+34600111222")
    made = campaign()
    summary = upload(made, f"nombre;{header}\nAna;600 111 222\nEva;+34 600-111-222\n")
    assert members(made) == {ana.pk}
    assert summary["duplicates"] == 1  # the same number written twice


def test_correo_and_customer_id_columns_a_rows_first_filled_value_counts():
    ana, eva = person(email="ana@example.com"), person()
    made = campaign()
    summary = upload(made, f"customer_id,correo\n,ana@example.com\n{eva.pk},\n")
    assert members(made) == {ana.pk, eva.pk}
    assert summary["rows"] == 2 and summary["invalid"] == 0


def test_a_headerless_column_tells_e_mails_from_phones_per_row():
    ana, eva = person(email="ana@example.com"), person(phone="+34600111333")
    made = campaign()
    summary = upload(
        made, "ana@example.com\r\n+34 600 111 333\r\nhello\r\n\r\nnobody@example.com\r\n"
    )
    assert members(made) == {ana.pk, eva.pk}
    assert summary == summary | {"rows": 4, "matched": 2, "unmatched": 1, "invalid": 1}
    assert summary["invalid_lines"] == [{"line": 3, "reason": "unknown"}]


def test_invalid_values_are_counted_and_the_first_twenty_listed_with_their_line():
    made = campaign()
    lines = ["email", *[f"not-an-address-{i}" for i in range(25)], "", "x@"]
    summary = upload(made, "\n".join(lines))
    assert summary["invalid"] == 26 and summary["rows"] == 26
    assert len(summary["invalid_lines"]) == 20
    assert summary["invalid_lines"][0] == {"line": 2, "reason": "email"}
    phones = upload(made, "phone;customer_id;name\n12;;\n;abc;\n;;Ana\n;;\n")
    assert [row["reason"] for row in phones["invalid_lines"]] == ["phone", "customer_id", "missing"]


# --- Matching: proof only, live customers only ------------------------------------------------


def test_only_a_verified_identity_is_matched_never_one_somebody_typed():
    guest = person(email="ana@example.com", verified=False)  # typed at a guest checkout
    made = campaign()
    summary = upload(made, "email\nana@example.com\n")
    assert members(made) == set() and summary["unmatched"] == 1
    owner = person(email="ana@example.com")  # the account that proved the address
    upload(made, "email\nana@example.com\n")
    assert members(made) == {owner.pk} and guest.pk not in members(made)


def test_erased_customers_are_skipped_and_merged_ones_count_as_their_survivor():
    survivor = person(email="ana@example.com")
    absorbed = shopper(status=CustomerStatus.MERGED, merged_into=survivor)
    twice = shopper(status=CustomerStatus.MERGED, merged_into=absorbed)
    erased = person(status=CustomerStatus.ERASED, email="gone@example.com")
    made = campaign()
    text = f"customer_id\n{absorbed.pk}\n{twice.pk}\n{erased.pk}\n999999999\n"
    summary = upload(made, text)
    assert members(made) == {survivor.pk}
    assert (summary["matched"], summary["duplicates"], summary["unmatched"]) == (1, 1, 2)
    upload(made, "email\ngone@example.com\nana@example.com\n")
    assert members(made) == {survivor.pk}


def test_a_merge_after_the_upload_moves_the_place_to_the_survivor_and_erasure_drops_it():
    from customers.services import erase_customer, merge_customers

    ana, ana_too, eva = person(email="ana@example.com"), person(), person(email="eva@example.com")
    first, second = campaign(), campaign()
    upload(first, f"customer_id\n{ana_too.pk}\n{eva.pk}\n")
    upload(second, f"customer_id\n{ana.pk}\n{ana_too.pk}\n")
    merge_customers(survivor=ana, absorbed=ana_too, cause="test")
    assert members(first) == {ana.pk, eva.pk} and members(second) == {ana.pk}
    erase_customer(customer=eva)
    assert members(first) == {ana.pk}


def test_values_are_looked_up_one_query_per_chunk(monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(audience_upload, "CHUNK", 2)
    people = [person(email=f"p{i}@example.com") for i in range(5)]
    values = {
        "email": {f"p{i}@example.com" for i in range(5)},
        "phone": set(),
        "customer_id": set(),
    }
    with django_assert_num_queries(3):
        owners = audience_upload.match(values)
    assert set(owners.values()) == {p.pk for p in people}


# --- Replacing, clearing, status ---------------------------------------------------------------


def test_a_new_upload_replaces_the_list_and_clearing_removes_it(marketer):
    ana, eva = person(email="ana@example.com"), person(email="eva@example.com")
    made = campaign()
    upload(made, "ana@example.com\n", name="first.csv")
    summary = upload(made, "eva@example.com\n", name="C:\\Users\\me\\second.csv", user=marketer)
    made.refresh_from_db()
    assert members(made) == {eva.pk} and ana.pk not in members(made)
    assert made.audience_file_name == "second.csv" and summary["uploaded_by"] == marketer.pk
    services.clear_audience(campaign=made, acting_user=marketer)
    made.refresh_from_db()
    assert members(made) == set()
    assert (made.audience_file_name, made.audience_uploaded_at, made.audience_stats) == (
        "",
        None,
        {},
    )


@pytest.mark.parametrize("status", [S.SENDING, S.PAUSED, S.CANCELLED, S.FINISHED])
def test_the_audience_is_fixed_once_the_campaign_left_scheduled(status):
    ana = person(email="ana@example.com")
    made = campaign()
    upload(made, "ana@example.com\n")
    Campaign.objects.filter(pk=made.pk).update(status=status)
    made.refresh_from_db()
    with pytest.raises(AudienceLocked):
        upload(made, "eva@example.com\n")
    with pytest.raises(AudienceLocked):
        services.clear_audience(campaign=made, acting_user=None)
    assert members(made) == {ana.pk}


def test_a_scheduled_campaigns_audience_may_change():
    ana = person(email="ana@example.com")
    made = campaign(status=S.SCHEDULED)
    upload(made, "ana@example.com\n")
    assert members(made) == {ana.pk}


# --- Bad files: refused whole, naming the line, nothing written --------------------------------

BAD_FILES = [
    (b"email\nana@example.com\nJos\xe9@example.com\n", "Line 3 is not UTF-8"),
    (b"email\nana@example.com\x00\n", "Line 2 holds a NUL"),
    (b"email\n\xed\xa0\x80@example.com\n", "Line 2 is not UTF-8"),  # a lone surrogate
    (b"\xff\xfee\x00m\x00", "Line 1 holds a NUL"),  # UTF-16, as some spreadsheets save
    (b"", "The file is empty."),
    (b"\xef\xbb\xbf \r\n\n", "The file is empty."),
    (b";;;\n;;\n", "The file is empty."),
    (b"name,city\nAna,Madrid\n", "Line 1 names no column"),
    (b"hello\n", "Line 1 names no column"),
    (b"email\n", "no rows under its header"),
    (b'email\n"ana@example.com\n', "not valid CSV"),
    (b"email,notes\nana@example.com," + b"x" * 1001 + b"\n", "Line 2 has a value longer"),
]


@pytest.mark.parametrize(("content", "expected"), BAD_FILES)
def test_a_bad_file_is_refused_whole_and_the_previous_list_stays(content, expected):
    ana = person(email="ana@example.com")
    made = campaign()
    upload(made, "ana@example.com\n", name="good.csv")
    with pytest.raises(InvalidAudienceFile) as caught:
        upload(made, content, name="bad.csv")
    assert expected in caught.value.message
    assert caught.value.fields == {"file": [caught.value.message]}
    made.refresh_from_db()
    assert members(made) == {ana.pk} and made.audience_file_name == "good.csv"


def test_a_file_over_the_size_limit_is_refused(settings):
    settings.CAMPAIGN_AUDIENCE_MAX_BYTES = 100
    made = campaign()
    with pytest.raises(InvalidAudienceFile, match="larger than"):
        upload(made, "email\n" + "a@example.com\n" * 10)
    upload(made, "email\n" + "a@example.com\n" * 5)  # 76 bytes: fine


def test_more_rows_than_the_limit_are_refused_naming_the_line(settings):
    settings.CAMPAIGN_AUDIENCE_MAX_ROWS = 3
    made = campaign()
    with pytest.raises(InvalidAudienceFile, match="Line 5: the file has more than 3 rows"):
        upload(made, "email\na@x.es\nb@x.es\nc@x.es\nd@x.es\n")
    assert upload(made, "email\na@x.es\nb@x.es\nc@x.es\n")["rows"] == 3
    assert not members(made)


# --- Planning from the list (both SQL paths) --------------------------------------------------


@pytest.mark.usefixtures("sql_path")
def test_a_campaign_with_an_uploaded_list_and_no_segment_plans_its_live_members():
    ana, eva, other = person(email="ana@example.com"), person(email="eva@example.com"), shopper()
    made = without_segment()
    assert planning.plan_campaign(campaign=made) == 0  # no audience at all: nothing
    upload(made, "ana@example.com\neva@example.com\n")
    Customer.objects.filter(pk=eva.pk).update(status=CustomerStatus.ERASED)
    made.refresh_from_db()
    assert planning.plan_campaign(campaign=made) == 1
    planned = Delivery.objects.get(campaign=made)
    assert planned.customer_id == ana.pk and planned.status == "queued"
    assert other.pk not in set(Delivery.objects.values_list("customer_id", flat=True))


@pytest.mark.usefixtures("sql_path")
def test_a_segment_and_an_uploaded_list_plan_the_customers_in_both():
    rule = {"type": "profile", "field": "language", "op": "=", "value": "en"}
    segment = Segment.objects.create(name="English", rules={"op": "all", "rules": [rule]})
    both = person(email="both@example.com", preferred_language="en")
    person(email="listed@example.com", preferred_language="es")
    shopper(preferred_language="en")  # in the segment only
    made = campaign(segment=segment)
    upload(made, "both@example.com\nlisted@example.com\n")
    made.refresh_from_db()
    assert planning.plan_campaign(campaign=made) == 1
    assert set(Delivery.objects.values_list("customer_id", flat=True)) == {both.pk}


def test_an_uploaded_list_instead_of_a_segment_makes_the_campaign_ready(marketer):
    person(email="ana@example.com")
    made = without_segment()
    with pytest.raises(CampaignNotReady) as caught:
        services.schedule_campaign(campaign=made, acting_user=marketer)
    assert "segment" in caught.value.fields
    upload(made, "ana@example.com\n")
    made.refresh_from_db()
    assert services.schedule_campaign(campaign=made, acting_user=marketer).status == S.SCHEDULED


# --- The admin --------------------------------------------------------------------------------


@pytest.fixture
def client(db):
    client = Client()
    client.force_login(UserFactory(role=roles.MARKETER, email="marketing@omni.example"))
    return client


def url(name, made):
    return reverse(f"admin:campaigns_campaign_{name}", args=[made.pk])


def csv_file(content: bytes, name="clientes.csv"):
    return SimpleUploadedFile(name, content, content_type="text/csv")


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_campaign_page_offers_the_upload_and_shows_the_current_list(client):
    person(email="ana@example.com")
    made = campaign()
    page = client.get(url("change", made)).content.decode()
    assert 'id="campaign-audience"' in page and url("audience", made) in page
    assert "No list uploaded." in page
    assert 'id="campaign-audience-clear"' not in page
    upload(made, "ana@example.com\n", name="vip.csv")
    page = client.get(url("change", made)).content.decode()
    assert "vip.csv" in page and "1 customer matched" in page
    assert 'id="campaign-audience-clear"' in page and url("audience_remove", made) in page


def test_uploading_a_csv_in_the_admin_shows_its_summary_with_the_invalid_lines(client):
    ana = person(email="ana@example.com")
    made = campaign()
    assert "customer_id" in client.get(url("audience", made)).content.decode()
    content = b"email;name\nana@example.com;Ana\nnope;Eva\n"
    response = client.post(url("audience", made), {"file": csv_file(content)})
    assert response.status_code == 302 and response["Location"] == url("audience", made)
    assert members(made) == {ana.pk}
    page = client.get(response["Location"]).content.decode()
    assert "clientes.csv" in page and "Line 3: not a valid e-mail address" in page
    assert "The audience list was uploaded." in page


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"name\nAna\n", "Line 1 names no column"), (b"email\nJos\xe9@x.es\n", "not UTF-8")],
)
def test_a_bad_file_is_an_error_on_the_form_not_a_crash(client, content, expected):
    made = campaign()
    response = client.post(url("audience", made), {"file": csv_file(content)})
    assert response.status_code == 200
    assert expected in response.context["form"].errors["file"][0]
    assert expected in response.content.decode()
    assert not members(made) and not Campaign.objects.get(pk=made.pk).audience_file_name


def test_an_empty_upload_is_a_form_error_too(client):
    made = campaign()
    response = client.post(url("audience", made), {"file": csv_file(b"")})
    assert response.status_code == 200 and response.context["form"].errors["file"]


def test_removing_the_uploaded_audience_in_the_admin(client):
    person(email="ana@example.com")
    made = campaign()
    upload(made, "ana@example.com\n")
    assert client.get(url("audience_remove", made)).status_code == 405
    response = client.post(url("audience_remove", made))
    assert response.status_code == 302 and response["Location"] == url("change", made)
    assert not members(made) and "The uploaded audience was removed." in texts(response)


def test_a_sending_campaign_offers_no_upload_and_refuses_one(client):
    ana = person(email="ana@example.com")
    made = campaign()
    upload(made, "ana@example.com\n")
    Campaign.objects.filter(pk=made.pk).update(status=S.SENDING)
    page = client.get(url("change", made)).content.decode()
    assert 'id="campaign-audience-upload"' not in page
    assert 'id="campaign-audience-clear"' not in page
    assert 'id="audience-form"' not in client.get(url("audience", made)).content.decode()
    response = client.post(url("audience", made), {"file": csv_file(b"eva@example.com\n")})
    assert response.status_code == 302 and any("cannot change" in t for t in texts(response))
    client.post(url("audience_remove", made))
    assert members(made) == {ana.pk}


def test_staff_without_the_campaign_role_cannot_upload():
    other = Client()
    other.force_login(UserFactory(role=roles.STORE_STAFF))
    made = campaign()
    assert other.get(url("audience", made)).status_code == 403
    response = other.post(url("audience", made), {"file": csv_file(b"ana@example.com\n")})
    assert response.status_code == 403
    assert other.post(url("audience_remove", made)).status_code == 403
    assert not members(made)


def test_the_upload_takes_a_bounded_number_of_queries(client, django_assert_max_num_queries):
    people = [person(email=f"p{i}@example.com") for i in range(60)]
    made = campaign()
    lines = "\n".join(["email", *(f"p{i}@example.com" for i in range(60)), "nobody@example.com"])
    with django_assert_max_num_queries(15):
        client.post(url("audience", made), {"file": csv_file(lines.encode())})
    assert members(made) == {p.pk for p in people}
