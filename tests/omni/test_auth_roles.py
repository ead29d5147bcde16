"""Sign-in (allauth, e-mail only), closed sign-up, MFA, and what each staff role may do."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.core.cache import cache

from campaigns.models import Campaign
from inventory.models import Location
from inventory.selectors import locations_for_user
from omni import roles
from omni.models import User
from tests.factories import DEFAULT_PASSWORD, LocationFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN_URL = "/accounts/login/"


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    """allauth keeps its login/reset rate limits in the cache; start every test clean."""
    cache.clear()
    yield
    cache.clear()


def sign_in(client, user, password=DEFAULT_PASSWORD, **kwargs):
    return client.post(LOGIN_URL, {"login": user.email, "password": password}, **kwargs)


def location_change_url(location):
    return f"/admin/inventory/location/{location.pk}/change/"


# --- Sign-in ---------------------------------------------------------------------------------


def test_roles_exist_as_groups_from_data_migrations():
    assert set(Group.objects.filter(name__in=roles.ROLES).values_list("name", flat=True)) == set(
        roles.ROLES
    )


@pytest.mark.parametrize("role", roles.ROLES)
def test_each_role_signs_in_by_email_and_lands_on_the_admin(client, role):
    user = UserFactory(email=f"{role.replace(' ', '.').lower()}@omni.example", role=role)

    response = sign_in(client, user, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/admin/"
    assert response.request["PATH_INFO"] == "/admin/"
    assert client.session["_auth_user_id"] == str(user.pk)
    assert response.context["user"] == user
    assert user.groups.filter(name=role).exists()


def test_sign_in_email_is_case_insensitive(client):
    user = UserFactory(email="Ana.Lopez@Omni.Example", role=roles.STORE_STAFF)
    assert user.email == "ana.lopez@omni.example"

    response = client.post(
        LOGIN_URL, {"login": "ANA.LOPEZ@omni.example", "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_wrong_password_shows_a_form_error_and_opens_no_session(client):
    user = UserFactory(role=roles.STORE_MANAGER)

    response = sign_in(client, user, password="not-the-password")

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors
    assert form.non_field_errors()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_inactive_user_cannot_sign_in(client):
    user = UserFactory(role=roles.BACKOFFICE_ADMIN, is_active=False)

    response = sign_in(client, user)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/inactive/"
    assert "_auth_user_id" not in client.session


def assert_login_redirect(url, next_url):
    parts = urlsplit(url)
    assert parts.path == LOGIN_URL
    assert parse_qs(parts.query) == {"next": [next_url]}


def test_admin_redirects_anonymous_users_to_the_allauth_login(client):
    response = client.get("/admin/", follow=True)

    assert_login_redirect(response.redirect_chain[-1][0], "/admin/")
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == LOGIN_URL


def test_admin_login_page_is_allauth_too(client):
    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert_login_redirect(response["Location"], "/admin/")


def test_non_staff_user_is_refused_by_the_admin(client):
    user = UserFactory(is_staff=False)
    sign_in(client, user)
    assert client.session["_auth_user_id"] == str(user.pk)

    response = client.get("/admin/", follow=True)

    assert response.status_code == 403


def test_password_reset_sends_an_email_to_a_known_address(client, mailoutbox):
    user = UserFactory(role=roles.STORE_STAFF)

    response = client.post("/accounts/password/reset/", {"email": user.email})

    assert response.status_code == 302
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [user.email]
    assert "/accounts/password/reset/key/" in message.body


def test_self_sign_up_is_closed(client):
    response = client.get("/accounts/signup/")

    assert response.status_code == 200
    assert "account/signup_closed.html" in [t.name for t in response.templates]
    assert "form" not in response.context

    response = client.post(
        "/accounts/signup/",
        {
            "email": "intruder@example.com",
            "password1": "a-Very-long-passw0rd!",
            "password2": "a-Very-long-passw0rd!",
        },
    )

    assert response.status_code == 200
    assert "account/signup_closed.html" in [t.name for t in response.templates]
    assert not User.objects.filter(email="intruder@example.com").exists()
    assert "_auth_user_id" not in client.session


def test_mfa_page_is_reachable_for_a_signed_in_staff_user(client):
    user = UserFactory(role=roles.STORE_MANAGER)
    sign_in(client, user)

    response = client.get("/accounts/2fa/")

    assert response.status_code == 200
    assert "mfa/index.html" in [t.name for t in response.templates]
    assert b"/accounts/2fa/totp/activate/" in response.content


def test_mfa_page_needs_sign_in(client):
    response = client.get("/accounts/2fa/")

    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


# --- Role permissions ------------------------------------------------------------------------


def test_marketer_cannot_change_locations(client):
    marketer = UserFactory(role=roles.MARKETER)
    location = LocationFactory(name="Gran Vía", staff=[marketer])
    assert not marketer.has_perm("inventory.change_location")
    assert not marketer.has_perm("inventory.act_on_all_locations")
    client.force_login(marketer)

    # Read-only at most (Marketers hold inventory.view_location): no save button, no saving.
    page = client.get(location_change_url(location))
    assert page.status_code in (200, 403)
    if page.status_code == 200:
        assert page.context["has_change_permission"] is False
        assert b'name="_save"' not in page.content

    response = client.post(
        location_change_url(location),
        {"kind": "store", "code": location.code, "name": "Renamed by marketing"},
    )

    assert response.status_code == 403
    location.refresh_from_db()
    assert location.name == "Gran Vía"


def test_marketer_cannot_change_a_location_they_do_not_work_at(client):
    marketer = UserFactory(role=roles.MARKETER)
    location = LocationFactory(name="Diagonal")
    client.force_login(marketer)

    assert client.get(location_change_url(location)).status_code in (302, 403, 404)
    response = client.post(
        location_change_url(location),
        {"kind": "store", "code": location.code, "name": "Renamed by marketing"},
    )

    assert response.status_code == 403
    location.refresh_from_db()
    assert location.name == "Diagonal"


def test_store_staff_cannot_edit_campaigns(client):
    staff = UserFactory(role=roles.STORE_STAFF)
    campaign = Campaign.objects.create(name="Rebajas")
    assert not staff.has_perm("campaigns.change_campaign")
    assert not staff.has_perm("campaigns.add_campaign")
    client.force_login(staff)

    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").status_code == 403
    assert client.get("/admin/campaigns/campaign/").status_code == 403
    response = client.post(
        "/admin/campaigns/campaign/add/",
        {"name": "Sneaky", "description": "", "status": "draft"},
    )
    assert response.status_code == 403
    assert not Campaign.objects.filter(name="Sneaky").exists()


# The campaign editor's variants inline (campaigns.admin_campaigns): one variant with an e-mail.
ONE_VARIANT = {
    "variants-TOTAL_FORMS": "1",
    "variants-INITIAL_FORMS": "0",
    "variants-0-name": "A",
    "variants-0-split_percent": "100",
    "variants-0-email_subject": "Hola",
    "variants-0-email_html": "<p>Hola {{ customer.first_name }}</p>",
}


def test_marketer_adds_a_campaign_in_the_admin(client):
    marketer = UserFactory(role=roles.MARKETER)
    assert marketer.has_perm("campaigns.add_campaign")
    client.force_login(marketer)
    assert client.get("/admin/campaigns/campaign/add/").status_code == 200

    response = client.post(
        "/admin/campaigns/campaign/add/",
        {
            "name": "Back to school",
            "description": "September push",
            "status": "draft",
            "starts_at_0": "2030-09-01",
            "starts_at_1": "09:00:00",
            "ends_at_0": "2030-09-15",
            "ends_at_1": "21:00:00",
            **ONE_VARIANT,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get(name="Back to school")
    assert campaign.created_by == marketer
    assert campaign.ends_at > campaign.starts_at


def test_campaign_ending_before_it_starts_is_rejected_in_the_admin(client):
    client.force_login(UserFactory(role=roles.MARKETER))

    response = client.post(
        "/admin/campaigns/campaign/add/",
        {
            "name": "Backwards",
            "status": "draft",
            "starts_at_0": "2030-09-15",
            "starts_at_1": "09:00:00",
            "ends_at_0": "2030-09-01",
            "ends_at_1": "09:00:00",
            **ONE_VARIANT,
        },
    )

    assert response.status_code == 200
    assert "ends_at" in response.context["adminform"].form.errors
    assert not Campaign.objects.filter(name="Backwards").exists()


# --- Location scoping ------------------------------------------------------------------------


@pytest.fixture
def two_stores():
    return LocationFactory(code="mad-01"), LocationFactory(code="bcn-01")


def test_store_staff_see_only_their_locations(two_stores):
    madrid, _barcelona = two_stores
    staff = UserFactory(role=roles.STORE_STAFF, locations=[madrid])

    assert list(locations_for_user(staff)) == [madrid]


@pytest.mark.parametrize("role", [roles.STORE_MANAGER, roles.BACKOFFICE_ADMIN])
def test_managers_and_backoffice_admins_see_every_location(two_stores, role):
    user = UserFactory(role=role)
    warehouse = LocationFactory(warehouse=True)

    assert set(locations_for_user(user)) == {*two_stores, warehouse}


def test_superuser_sees_every_location(two_stores):
    assert set(locations_for_user(UserFactory(superuser=True))) == set(two_stores)


def test_anonymous_inactive_and_unassigned_users_see_no_location(two_stores):
    inactive = UserFactory(role=roles.STORE_MANAGER, is_active=False)
    unassigned = UserFactory(role=roles.STORE_STAFF)

    assert not locations_for_user(AnonymousUser()).exists()
    assert not locations_for_user(None).exists()
    assert not locations_for_user(inactive).exists()
    assert not locations_for_user(unassigned).exists()
    assert Location.objects.count() == len(two_stores)


def test_store_staff_cannot_open_another_stores_location_in_the_admin(client, two_stores):
    madrid, barcelona = two_stores
    staff = UserFactory(role=roles.STORE_STAFF, locations=[madrid])
    client.force_login(staff)

    own = client.get(location_change_url(madrid))
    assert own.status_code == 200
    assert own.context["original"] == madrid

    other = client.get(location_change_url(barcelona))
    assert other.status_code in (302, 403, 404)
    if other.status_code == 302:
        assert other["Location"] == "/admin/"

    listing = client.get("/admin/inventory/location/")
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [madrid]


def test_store_manager_opens_any_location_in_the_admin(client, two_stores):
    client.force_login(UserFactory(role=roles.STORE_MANAGER))

    for location in two_stores:
        response = client.get(location_change_url(location))
        assert response.status_code == 200
        assert response.context["has_change_permission"] is True
