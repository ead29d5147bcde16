"""Demo segments a marketer can open, count and edit (``seed_demo``; idempotent by name)."""

from campaigns.models import Segment
from campaigns.services import save_segment
from omni.roles import MARKETER

# name, description, rule tree
SEGMENTS = [
    (
        "Clientes fieles",
        "Tres pedidos o más y consentimiento de e-mail.",
        {
            "op": "all",
            "rules": [
                {"type": "trait", "field": "orders_count", "op": ">=", "value": 3},
                {"type": "consent", "channel": "email"},
            ],
        },
    ),
    (
        "Carrito abandonado (24 h)",
        "Actualizaron el carrito en las últimas 24 horas y no han comprado desde entonces.",
        {
            "op": "all",
            "rules": [
                {
                    "type": "event",
                    "event": "cart_updated",
                    "within": 24,
                    "unit": "hours",
                    "none_since": "order_placed",
                }
            ],
        },
    ),
    (
        "Madrid: tiendas",
        "Tienda habitual en Madrid o compraron en tienda.",
        {
            "op": "any",
            "rules": [
                {"type": "store", "stores": ["mad-granvia", "mad-serrano"]},
                {
                    "op": "all",
                    "rules": [
                        {"type": "purchase_channel", "channels": ["store"]},
                        {"type": "distance", "store": "mad-granvia", "km": 30},
                    ],
                },
            ],
        },
    ),
    (
        "Compradoras de vestidos",
        "Compraron un vestido en los últimos 180 días.",
        {
            "op": "all",
            "rules": [
                {"type": "purchase", "what": "category", "codes": ["vestidos"], "within_days": 180},
            ],
        },
    ),
]


def seed(ctx) -> None:
    marketer = ctx.data.get("users", {}).get(MARKETER)
    for name, description, rules in SEGMENTS:
        save_segment(
            segment=Segment.objects.filter(name=name).first(),
            name=name,
            description=description,
            rules=rules,
            acting_user=marketer,
        )
    ctx.say(f"  {len(SEGMENTS)} segments")
