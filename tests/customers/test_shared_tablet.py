"""Must show: a shared in-store tablet does not glue its shoppers together."""

import pytest

from customers import services
from customers.models import (
    BlockedIdentifier,
    Customer,
    CustomerStatus,
    Identity,
    IdentityKind,
    Merge,
    MergeReview,
    ReviewStatus,
)

pytestmark = pytest.mark.usefixtures("sql_path")

TABLET = "store-sol-tablet-01"
SHOPPERS = 1_000


@pytest.mark.django_db
def test_one_thousand_shoppers_on_one_store_tablet_are_not_merged():
    profiles = []
    for n in range(SHOPPERS):
        customer = services.identify(
            identifiers=[
                (IdentityKind.EMAIL, f"shopper{n}@example.com", True),
                (IdentityKind.ANONYMOUS, TABLET),
            ],
            source="store",
        )
        profiles.append(customer.pk)

    # No mass merge: one live, known profile per shopper.
    assert len(set(profiles)) == SHOPPERS
    live = Customer.objects.filter(status=CustomerStatus.LIVE)
    assert live.count() == SHOPPERS
    assert not live.filter(is_anonymous=True).exists()
    assert Customer.objects.count() == SHOPPERS
    assert Merge.objects.count() == 0
    for n in (0, 499, 999):
        assert (
            Identity.objects.get(kind="email", value=f"shopper{n}@example.com").customer_id
            == profiles[n]
        )

    # The review queue holds the pairs that claimed the tablet before it was blocked.
    reviews = MergeReview.objects.filter(kind=IdentityKind.ANONYMOUS, value=TABLET)
    assert reviews.count() >= 1
    assert reviews.count() == reviews.filter(status=ReviewStatus.PENDING).count()
    claimants = set(reviews.values_list("customer_a_id", flat=True)) | set(
        reviews.values_list("customer_b_id", flat=True)
    )
    assert len(claimants) >= services.SHARED_IDENTIFIER_THRESHOLD
    assert claimants <= set(profiles)
    assert MergeReview.objects.count() == reviews.count()  # nothing else queued

    # The tablet is blocked from then on, and at most one profile ever held it.
    assert BlockedIdentifier.objects.filter(kind=IdentityKind.ANONYMOUS, value=TABLET).exists()
    assert Identity.objects.filter(kind=IdentityKind.ANONYMOUS, value=TABLET).count() <= 1

    # The next shopper on the tablet is a new profile too, and queues nothing.
    before = reviews.count()
    next_one = services.identify(
        identifiers=[
            (IdentityKind.EMAIL, "late@example.com", True),
            (IdentityKind.ANONYMOUS, TABLET),
        ],
        source="store",
    )
    assert next_one.pk not in profiles
    assert reviews.count() == before
    assert Merge.objects.count() == 0
