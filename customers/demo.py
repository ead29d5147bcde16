"""Demo customers: ~2,000 people with identities, consent evidence and a few months of events."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from customers.models import (
    Channel,
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentSource,
    ConsentState,
    Customer,
    Event,
    EventType,
    Identity,
    IdentityKind,
)
from customers.traits import recompute_traits

CUSTOMERS = 2000
FIRST = [
    "Lucía",
    "Hugo",
    "Martina",
    "Mateo",
    "Sofía",
    "Leo",
    "Julia",
    "Daniel",
    "Paula",
    "Álvaro",
    "Valeria",
    "Pablo",
    "Emma",
    "Manuel",
    "Daniela",
    "Alejandro",
    "Carla",
    "Adrián",
    "Sara",
    "David",
]
LAST = [
    "García",
    "Rodríguez",
    "González",
    "Fernández",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Jiménez",
    "Ruiz",
    "Hernández",
    "Díaz",
    "Moreno",
    "Muñoz",
    "Álvarez",
]
STORES = [
    "mad-granvia",
    "mad-serrano",
    "bcn-passeig",
    "vlc-colon",
    "svq-sierpes",
    "bio-moyua",
    "agp-larios",
    "lpa-triana",
]
CATEGORIES = ["vestidos", "camisas", "calzado-mujer", "calzado-hombre", "bolsos", "ropa-infantil"]
CHANNELS = [Channel.WEB, Channel.WEB, Channel.APP, Channel.APP, Channel.STORE, Channel.EMAIL,
            Channel.SOCIAL, Channel.MARKETPLACE]  # fmt: skip


def seed(ctx) -> None:
    if Identity.objects.filter(kind=IdentityKind.LOYALTY_CARD, value__startswith="OMNI").exists():
        ctx.say("  demo customers exist (unchanged)")
        return
    rng = ctx.rng
    now = timezone.now()
    customers = Customer.objects.bulk_create(
        [
            Customer(
                first_name=rng.choice(FIRST),
                last_name=f"{rng.choice(LAST)} {rng.choice(LAST)}",
                preferred_language="es",
                home_store=rng.choice(STORES),
                is_anonymous=False,
            )
            for _ in range(CUSTOMERS)
        ]
    )
    identities, consents, events = [], [], []
    for n, customer in enumerate(customers, start=1):
        email = f"cliente{n:04d}@example.com"
        identities.append(Identity(customer=customer, kind=IdentityKind.EMAIL, value=email,
                                   verified=rng.random() < 0.8, source=Channel.WEB))  # fmt: skip
        if rng.random() < 0.6:
            identities.append(Identity(customer=customer, kind=IdentityKind.PHONE,
                                       value=f"+3461{n:07d}", verified=True, source=Channel.STORE))  # fmt: skip
        if rng.random() < 0.5:
            identities.append(Identity(customer=customer, kind=IdentityKind.LOYALTY_CARD,
                                       value=f"OMNI{n:08d}", verified=True, source=Channel.STORE))  # fmt: skip
        identities.append(Identity(customer=customer, kind=IdentityKind.ANONYMOUS,
                                   value=f"web-{n:06d}", source=Channel.WEB))  # fmt: skip
        for channel in (ConsentChannel.EMAIL, ConsentChannel.SMS, ConsentChannel.PUSH):
            if rng.random() < 0.6:
                consents.append(
                    Consent(
                        customer=customer,
                        channel=channel,
                        purpose=ConsentPurpose.MARKETING,
                        state=ConsentState.GRANTED
                        if rng.random() < 0.85
                        else ConsentState.WITHDRAWN,
                        source=rng.choice(
                            [ConsentSource.WEB_FORM, ConsentSource.APP, ConsentSource.IMPORT]
                        ),
                        wording_version="2026-01",
                    )
                )
        for _ in range(rng.randint(2, 18)):
            occurred = now - timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 1440))
            kind = rng.choices(
                [EventType.PAGE_VIEWED, EventType.PRODUCT_VIEWED, EventType.CART_UPDATED,
                 EventType.ORDER_PLACED, EventType.STORE_VISIT, EventType.MESSAGE_OPENED],
                weights=[30, 30, 10, 8, 8, 14],
            )[0]  # fmt: skip
            props = {}
            if kind in (EventType.PRODUCT_VIEWED, EventType.ORDER_PLACED):
                props["category"] = rng.choice(CATEGORIES)
            if kind == EventType.ORDER_PLACED:
                props["total"] = str(Decimal(rng.randint(1995, 18990)) / 100)
                props["store"] = rng.choice(STORES) if rng.random() < 0.5 else ""
            if kind == EventType.STORE_VISIT:
                props["store"] = rng.choice(STORES)
            channel = Channel.STORE if kind == EventType.STORE_VISIT else rng.choice(CHANNELS)
            events.append(Event(customer=customer, channel=channel, type=kind,
                                properties={k: v for k, v in props.items() if v}, occurred_at=occurred))  # fmt: skip
    Identity.objects.bulk_create(identities, batch_size=2000)
    Consent.objects.bulk_create(consents, batch_size=2000)
    Event.objects.bulk_create(events, batch_size=2000)
    recompute_traits()
    ctx.say(f"  {len(customers)} customers, {len(identities)} identities, {len(events)} events")
