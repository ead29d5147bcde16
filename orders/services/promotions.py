"""Promotions and their codes: saving a promotion, issuing a batch of single-use codes, and the
personal codes a campaign gives its recipients.

Codes are drawn with ``secrets`` from an alphabet without look-alikes (no 0/O, 1/I/L): 12
characters of 31 symbols, about 59 bits, so guessing one among 100,000 issued takes ~10^13
tries. Codes are inserted set-based (``INSERT … ON CONFLICT DO NOTHING`` in chunks); the rare
collision with an existing code is simply drawn again, so concurrent batches stay unique.
"""

import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import OperationalError, transaction
from django.utils.translation import gettext as _

from customers import selectors as customer_selectors
from orders import locks
from orders.exceptions import InvalidCouponBatch, InvalidPromotion
from orders.models import (
    BATCH_MAX_QUANTITY,
    BATCH_PREFIX_MAX_LENGTH,
    Coupon,
    CouponBatch,
    Promotion,
)

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
INSERT_CHUNK = 5_000
DRAW_ROUNDS = 8  # each round only redraws the collisions: 8 rounds never run out in practice
DEADLOCK_DETECTED = "40P01"
MAX_PERSONAL_CODES = 100_000
PERSONAL_CHUNK = 5_000  # ids per statement (PostgreSQL takes at most 65,535 parameters)


def new_code(prefix: str = "") -> str:
    """One random code: a uniform draw below 31^12 written in the alphabet (one call to the OS
    generator per code, ~4× faster than drawing each character)."""
    base = len(CODE_ALPHABET)
    number = secrets.randbelow(base**CODE_LENGTH)
    chars = []
    for _position in range(CODE_LENGTH):
        number, digit = divmod(number, base)
        chars.append(CODE_ALPHABET[digit])
    body = "".join(chars)
    return f"{prefix}-{body}" if prefix else body


@transaction.atomic
def save_promotion(
    *, promotion: Promotion, categories=None, products=None, acting_user=None
) -> Promotion:
    """Check every field (a form error per field) and save, with its eligible categories and
    products when given."""
    try:
        promotion.full_clean()
    except ValidationError as exc:
        raise InvalidPromotion(fields=exc.message_dict) from None
    promotion.save()
    if categories is not None:
        promotion.categories.set(categories)
    if products is not None:
        promotion.products.set(products)
    return promotion


def clean_prefix(prefix) -> str:
    """The prefix in upper case, or InvalidCouponBatch naming the field."""
    if not isinstance(prefix, str):
        raise InvalidCouponBatch(fields={"prefix": [_("Use letters A–Z and digits only.")]})
    prefix = prefix.strip().upper()
    if len(prefix) > BATCH_PREFIX_MAX_LENGTH or not (
        (prefix.isascii() and prefix.isalnum()) or not prefix
    ):
        raise InvalidCouponBatch(
            fields={
                "prefix": [
                    _("Use at most %(n)s letters A–Z and digits.") % {"n": BATCH_PREFIX_MAX_LENGTH}
                ]
            }
        )
    return prefix


def clean_quantity(quantity) -> int:
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not (1 <= quantity <= BATCH_MAX_QUANTITY)
    ):
        raise InvalidCouponBatch(
            fields={
                "quantity": [_("Ask for 1 to %(max)s codes.") % {"max": f"{BATCH_MAX_QUANTITY:,}"}]
            }
        )
    return quantity


def _insert(rows: list[Coupon]) -> None:
    """Insert the rows, skipping codes that exist. Sorted, so two issuers' first rounds meet in
    one order; should they still wait on each other's new codes in a circle (a deadlock, only
    ever on a collision), this round is rolled back to its savepoint and drawn again."""
    rows.sort(key=lambda row: row.code)
    try:
        with transaction.atomic():
            Coupon.objects.bulk_create(rows, batch_size=INSERT_CHUNK, ignore_conflicts=True)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != DEADLOCK_DETECTED:
            raise


def _insert_until(make, wanted: int, count_issued) -> None:
    """Insert ``make()`` rows until ``count_issued()`` reaches ``wanted``: collisions with
    existing codes are skipped by the database and drawn again."""
    missing = wanted - count_issued()
    for _round in range(DRAW_ROUNDS):
        if missing <= 0:
            return
        _insert([make() for _ in range(missing)])
        missing = wanted - count_issued()
    if missing > 0:
        raise InvalidCouponBatch(_("Could not draw enough unique codes; try again."))


@transaction.atomic
def issue_coupon_batch(
    *, promotion: Promotion, quantity: int, prefix: str = "", acting_user=None, campaign_id=None
) -> CouponBatch:
    """``quantity`` new single-use codes for ``promotion``, ``PREFIX-XXXXXXXXXXXX``."""
    prefix = clean_prefix(prefix)
    quantity = clean_quantity(quantity)
    batch = CouponBatch.objects.create(
        promotion=promotion,
        prefix=prefix,
        quantity=quantity,
        campaign_id=campaign_id,
        created_by=acting_user if acting_user and acting_user.is_authenticated else None,
    )

    def make() -> Coupon:
        return Coupon(
            promotion_id=promotion.pk, batch_id=batch.pk, single_use=True, code=new_code(prefix)
        )

    _insert_until(make, quantity, lambda: Coupon.objects.filter(batch=batch).count())
    return batch


def _clean_customer_ids(customer_ids: Iterable[int]) -> list[int]:
    ids = list(customer_ids)
    if len(ids) > MAX_PERSONAL_CODES or any(
        isinstance(pk, bool) or not isinstance(pk, int) for pk in ids
    ):
        raise InvalidCouponBatch(
            fields={
                "customer_ids": [_("Up to %(max)s customer ids.") % {"max": MAX_PERSONAL_CODES}]
            }
        )
    return sorted(set(ids))


def _id_error(field: str) -> InvalidCouponBatch:
    return InvalidCouponBatch(fields={field: [_("Ids are whole numbers above zero.")]})


def _is_id(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value > 0


def _clean_campaign(campaign_id, variant_ids, holdout_ids) -> tuple[int | None, dict, frozenset]:
    """The campaign's ids, checked (InvalidCouponBatch naming the argument)."""
    if campaign_id is not None and not _is_id(campaign_id):
        raise _id_error("campaign_id")
    variant_ids = {} if variant_ids is None else variant_ids
    if not isinstance(variant_ids, dict) or not all(
        _is_id(k) and _is_id(v) for k, v in variant_ids.items()
    ):
        raise _id_error("variant_ids")
    if isinstance(holdout_ids, str | bytes | dict) or not isinstance(holdout_ids, Iterable):
        raise _id_error("holdout_ids")
    holdout_ids = list(holdout_ids)
    if not all(_is_id(pk) for pk in holdout_ids):
        raise _id_error("holdout_ids")
    if campaign_id is None and (variant_ids or holdout_ids):
        raise InvalidCouponBatch(
            fields={"campaign_id": [_("Variants and a holdout belong to a campaign.")]}
        )
    return campaign_id, variant_ids, frozenset(holdout_ids)


@dataclass(frozen=True)
class _Campaign:
    """Who issues the codes: a campaign (or none), its variant per customer, its holdout."""

    id: int | None
    variant_ids: dict
    holdout_ids: frozenset


def _unused_personal_codes(promotion: Promotion, customer_ids, campaign_id) -> dict[int, str]:
    rows = (
        Coupon.objects.filter(
            promotion=promotion,
            customer_id__in=customer_ids,
            single_use=True,
            used=False,
            campaign_id=campaign_id,  # None: IS NULL, codes issued outside any campaign
        )
        .order_by("customer_id", "-pk")
        .values_list("customer_id", "code")
    )
    return dict(rows)  # the oldest unused code of each customer wins


@transaction.atomic
def issue_personal_codes(
    *,
    promotion: Promotion,
    customer_ids: Iterable[int],
    acting_user=None,
    campaign_id: int | None = None,
    variant_ids: dict[int, int] | None = None,
    holdout_ids: Collection[int] = (),
) -> dict[int, str]:
    """A single-use code per customer that only they may redeem: ``{customer_id: code}``.

    ``campaign_id``: the campaign that issues them; ``variant_ids``: the campaign variant per
    customer id; ``holdout_ids``: the customers of the holdout arm (their code is logged, never
    sent). All three are stored on the new coupons.

    Safe to call again (a retried send): a customer who still holds an unused code of this
    promotion issued for the same campaign (or for none, without ``campaign_id``) gets that one
    back, as it was first issued (its variant and holdout unchanged). Customers that are no
    longer live (merged, erased, unknown) get none and are left out of the answer. Up to
    100,000 ids, handled 5,000 at a time."""
    ids = _clean_customer_ids(customer_ids)
    campaign = _Campaign(*_clean_campaign(campaign_id, variant_ids, holdout_ids))
    locks.promotion_for_key_update(promotion.pk)  # one issuer of personal codes at a time
    codes: dict[int, str] = {}
    for start in range(0, len(ids), PERSONAL_CHUNK):
        codes.update(_personal_codes_for(promotion, ids[start : start + PERSONAL_CHUNK], campaign))
    return codes


def _personal_codes_for(promotion: Promotion, ids: list[int], campaign: _Campaign) -> dict:
    live = customer_selectors.live_ids(ids)
    if not live:
        return {}
    codes = _unused_personal_codes(promotion, live, campaign.id)
    pending = iter([pk for pk in live if pk not in codes])

    def make() -> Coupon:
        customer_id = next(pending)
        return Coupon(
            promotion_id=promotion.pk,
            customer_id=customer_id,
            single_use=True,
            code=new_code(),
            campaign_id=campaign.id,
            campaign_variant_id=campaign.variant_ids.get(customer_id),
            holdout=customer_id in campaign.holdout_ids,
        )

    def count_issued() -> int:
        nonlocal pending
        codes.update(_unused_personal_codes(promotion, live, campaign.id))
        pending = iter([pk for pk in live if pk not in codes])
        return len(codes)

    _insert_until(make, len(live), count_issued)
    return codes


def move_coupons_on_merge(*, survivor, absorbed) -> None:
    """customers_merged receiver: personal codes follow the person."""
    Coupon.objects.filter(customer=absorbed).update(customer=survivor)
