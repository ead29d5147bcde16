"""Fixtures for the customers tests: profiles built through the services, staff, signals."""

import pytest

from customers import services
from customers.models import Channel, IdentityKind
from tests.factories import UserFactory


@pytest.fixture
def staff_user(db):
    return UserFactory(email="clerk@omni.example", is_staff=True)


@pytest.fixture
def make_customer(db):
    """``make_customer(email=..., phone=..., card=..., anonymous_id=..., verified=True, **profile)``
    builds a profile through ``identify`` (so the identifiers are normalised like in production).
    """

    def make(
        *,
        email=None,
        phone=None,
        card=None,
        anonymous_id=None,
        pos_id=None,
        social=None,
        verified=True,
        source=Channel.WEB,
        **profile,
    ):
        identifiers = []
        if email:
            identifiers.append((IdentityKind.EMAIL, email, verified))
        if phone:
            identifiers.append((IdentityKind.PHONE, phone))
        if card:
            identifiers.append((IdentityKind.LOYALTY_CARD, card))
        if pos_id:
            identifiers.append((IdentityKind.POS_ID, pos_id))
        if social:
            identifiers.append((IdentityKind.SOCIAL, social))
        if anonymous_id:
            identifiers.append((IdentityKind.ANONYMOUS, anonymous_id))
        return services.identify(identifiers=identifiers, source=source, profile=profile or None)

    return make


@pytest.fixture
def connect_signal():
    """``connect_signal(signal, receiver)``: connected for the test only."""
    connected = []

    def connect(signal, receiver):
        signal.connect(receiver, weak=False)
        connected.append((signal, receiver))

    yield connect
    for signal, receiver in connected:
        signal.disconnect(receiver)
