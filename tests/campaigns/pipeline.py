"""Helpers of the delivery pipeline's tests: reachable customers and ready campaigns, built as
rows (how consents and identities come about is the customers app's tests)."""

from campaigns.models import Campaign, CampaignStatus, CampaignVariant, Segment
from customers.models import (
    Channel,
    Consent,
    ConsentSource,
    ConsentState,
    Customer,
    CustomerTraits,
    Identity,
    IdentityKind,
)

EVERYONE = {"op": "all", "rules": []}
CONTENT = {
    "email": {
        "subject": "Hola {{ customer.first_name }}",
        "html": '<p>{{ coupon_code }}</p><a href="{{ unsubscribe_url }}">baja</a>',
    },
    "sms": {"body": "Hola {{ customer.first_name }} {{ coupon_code }}"},
    "push": {"title": "Hola", "body": "Novedades para {{ customer.first_name }}"},
    "store": {"body": "Llamar a {{ customer.name }}"},
}
KINDS = {"email": IdentityKind.EMAIL, "sms": IdentityKind.PHONE, "push": IdentityKind.PUSH_TOKEN}


def consent(customer, channel, state=ConsentState.GRANTED):
    return Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose="marketing",
        state=state,
        source=ConsentSource.IMPORT,
    )


def shopper(*, consents=("email",), addresses=("email",), preferred="", **profile) -> Customer:
    """A live customer with an address and a granted marketing consent per channel named."""
    profile.setdefault("first_name", "Ana")
    customer = Customer.objects.create(**profile)
    for channel in addresses:
        value = {"email": f"c{customer.pk}@example.com", "sms": f"+3460000{customer.pk:04d}"}
        Identity.objects.create(
            customer=customer,
            kind=KINDS[channel],
            value=value.get(channel, f"token-{customer.pk}"),
            source=Channel.WEB,
        )
    for channel in consents:
        consent(customer, channel)
    if preferred:
        CustomerTraits.objects.create(customer=customer, preferred_channel=preferred)
    return customer


def campaign(
    *,
    channels=("email",),
    holdout=0,
    splits=(("A", 100),),
    status=CampaignStatus.DRAFT,
    segment=None,
    **fields,
) -> Campaign:
    segment = segment or Segment.objects.create(name="Everyone", rules=EVERYONE)
    made = Campaign.objects.create(
        name="Spring",
        segment=segment,
        channels=list(channels),
        holdout_percent=holdout,
        status=status,
        **fields,
    )
    for name, split in splits:
        CampaignVariant.objects.create(
            campaign=made,
            name=name,
            split_percent=split,
            content={c: CONTENT[c] for c in channels if c in CONTENT},
        )
    return made
