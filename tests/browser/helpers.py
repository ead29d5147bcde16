"""Shared steps of the browser tests."""

from django.contrib.auth.models import Group

from omni.models import User

PASSWORD = "s3cret-Pass!"


def make_staff(email, role, locations=()):
    user = User.objects.create_user(email=email, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    for location in locations:
        location.staff.add(user)
    return user


def sign_in(page, email, start="/admin/"):
    """Open an admin page anonymously: the admin sends us to allauth's sign-in (where MFA
    applies); sign in and land back on that page."""
    page.goto(start)
    assert "/accounts/login/" in page.url
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{start}")
