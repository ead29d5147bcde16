"""Every state change of carts, orders, pickups and returns (pricing lives in orders.pricing)."""

from orders.allocation import route_shipment
from orders.services.carts import (
    MAX_LINE_QUANTITY,
    add_to_cart,
    attach_guest_contact,
    cart_for_device,
    claim_cart,
    mark_abandoned_carts,
    merge_carts,
    move_carts_on_merge,
    open_cart,
    set_line_quantity,
)
from orders.services.checkout import (
    import_external_order,
    place_order,
    prefetch_placed,
    sell_at_counter,
)
from orders.services.fulfilment import (
    cancel_order,
    collect,
    expire_uncollected,
    mark_ready,
    mark_shipped,
    remind_uncollected,
    retake_received_transfers,
    settle_refund,
    short_pick,
    take_over_transfer,
)
from orders.services.promotions import (
    issue_coupon_batch,
    issue_personal_codes,
    move_coupons_on_merge,
    save_promotion,
)
from orders.services.returns import create_return, receive_return

__all__ = [
    "MAX_LINE_QUANTITY",
    "add_to_cart",
    "attach_guest_contact",
    "cancel_order",
    "cart_for_device",
    "claim_cart",
    "collect",
    "create_return",
    "expire_uncollected",
    "import_external_order",
    "issue_coupon_batch",
    "issue_personal_codes",
    "mark_abandoned_carts",
    "mark_ready",
    "mark_shipped",
    "merge_carts",
    "move_carts_on_merge",
    "move_coupons_on_merge",
    "open_cart",
    "place_order",
    "prefetch_placed",
    "receive_return",
    "remind_uncollected",
    "retake_received_transfers",
    "route_shipment",
    "save_promotion",
    "sell_at_counter",
    "set_line_quantity",
    "settle_refund",
    "short_pick",
    "take_over_transfer",
]
