"""Demo sales credited to campaigns, and the abandoned-cart journey switched on with a story to
show (``campaigns.demo`` calls it; everything goes through the real services):

* after the winter sale, some shoppers of both groups buy at a store (the treated a little more
  often than the holdout), and each sale is attributed — its results page shows sales and an
  uplift;
* twenty subscribers leave a cart, the idle sweep marks it abandoned, the journey e-mails them
  with a personal coupon; some open it, and some of those buy at the counter with their code —
  the journey's page shows each step's figures and its campaign's results the coupon sales.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from campaigns import engagement
from campaigns.models import REACHED, Campaign, Delivery, DeliveryReason, JourneyEntry
from campaigns.sending import send_batch
from campaigns.services import attribution, builtin_journeys, journeys
from customers.models import Customer
from inventory import selectors as inventory_selectors
from orders import services as order_services
from orders.selectors import promotion_by_name

BUY_TREATED, BUY_HOLDOUT = 0.12, 0.06  # the shares of each group who buy after the sale
CART_SHOPPERS = 20


def _stocked(ctx) -> tuple:
    """The store holding the most of the catalogue's first variants, and those it holds."""
    variants = list(inventory_selectors.catalog_variants().order_by("pk")[:60])
    stock = inventory_selectors.store_stock([v.pk for v in variants])
    if not stock:
        return None, []
    code = max(stock, key=lambda c: sum(stock[c].values()))
    held = [v for v in variants if stock[code].get(v.pk, 0) >= 3]
    return inventory_selectors.location_by_code(code), held


DEMO_SALE = "demo-sale:"  # the idempotency key's prefix of these sales


def _sell(ctx, customer, store, variants, *, code: str = ""):
    """One unit of a stocked variant at the counter (the shelf's last units are left)."""
    if not variants:
        return None
    variant = ctx.rng.choice(variants)
    try:
        with transaction.atomic():
            order = order_services.sell_at_counter(
                customer=customer,
                store=store,
                lines=[(variant, 1)],
                coupon_code=code,
                idempotency_key=f"{DEMO_SALE}{customer.pk}:{code or 'after-sale'}",
            )
    except Exception:
        return None
    attribution.attribute_order(order_id=order.pk)
    journeys.exit_for_orders(customer_id=customer.pk)
    return order


def sales_after(ctx, made: Campaign) -> int:
    store, variants = _stocked(ctx)
    rows = Delivery.objects.filter(campaign=made).select_related("customer")
    sold = 0
    for row in rows.order_by("pk"):
        held = row.reason == DeliveryReason.HOLDOUT
        if not held and row.status not in REACHED:
            continue
        if ctx.rng.random() < (BUY_HOLDOUT if held else BUY_TREATED):
            sold += _sell(ctx, row.customer, store, variants) is not None
    return sold


def abandoned_cart_story(ctx, *, subscribers) -> dict:
    """The journey on, twenty carts left, e-mailed, some opened and bought with the code."""
    made = builtin_journeys.abandoned_cart_journey(promotion=promotion_by_name("Bienvenida 10 %"))
    builtin_journeys.switch(journey=made, on=True)
    store, variants = _stocked(ctx)
    if len(variants) < 2:
        return {"carts": 0, "bought": 0, "waiting": 0}
    people = list(Customer.objects.filter(pk__in=subscribers).order_by("pk")[:CART_SHOPPERS])
    for person in people:
        cart = order_services.open_cart(customer=person, channel="web")
        for variant in ctx.rng.sample(variants, 2):
            order_services.add_to_cart(cart=cart, variant=variant, quantity=1, channel="web")
    now = timezone.now()
    carts = order_services.mark_abandoned_carts(idle_minutes=60, now=now + timedelta(hours=2))
    journeys.enter_abandoned_carts(cart_ids=carts, now=now)
    journeys.advance_due(now=now)
    send_batch(campaign_id=made.campaign_id, now=now)
    bought = 0
    for row in Delivery.objects.filter(entry__journey=made, status="sent").order_by("pk"):
        if ctx.rng.random() < 0.6:
            engagement.record_open(delivery_id=row.pk)  # wakes the entry: no SMS reminder
            if ctx.rng.random() < 0.5:
                customer = Customer.objects.get(pk=row.customer_id)
                bought += _sell(ctx, customer, store, variants, code=row.coupon_code) is not None
    waiting = JourneyEntry.objects.filter(journey=made, state="active").count()
    return {"carts": len(carts), "bought": bought, "waiting": waiting}
