"""The marketer role writes campaign content and reads deliveries, never edits them (0007)."""

import pytest

from omni import roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_marketers_write_variants_and_read_deliveries_only():
    marketer = UserFactory(role=roles.MARKETER)
    assert marketer.has_perms(["campaigns.add_campaignvariant", "campaigns.change_campaignvariant"])
    assert marketer.has_perm("campaigns.view_delivery")
    assert not marketer.has_perm("campaigns.change_delivery")
    assert not UserFactory(role=roles.STORE_STAFF).has_perm("campaigns.view_delivery")
