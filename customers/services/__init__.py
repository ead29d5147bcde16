"""Writes of the customers app (a package: profiles/identity/consent/GDPR, and event ingest)."""

from customers.services.events import BatchTooLarge, EventResult, record_events
from customers.services.phones import confirm_phone_verification, start_phone_verification
from customers.services.profiles import (
    IDENTITY_LIMITS,
    SHARED_IDENTIFIER_THRESHOLD,
    Identifier,
    approve_review,
    clean_identifiers,
    confirm_consent,
    confirmation_token,
    current_consents,
    customer_for_user,
    erase_customer,
    export_customer,
    has_consent,
    identify,
    link_verified_identifier,
    merge_customers,
    record_contact,
    record_customer_event,
    reject_review,
    set_consent,
)
from customers.services.suppression import suppress_address, withdraw_marketing
from customers.traits import recompute_traits

__all__ = [
    "IDENTITY_LIMITS",
    "SHARED_IDENTIFIER_THRESHOLD",
    "BatchTooLarge",
    "EventResult",
    "Identifier",
    "approve_review",
    "clean_identifiers",
    "confirm_consent",
    "confirm_phone_verification",
    "confirmation_token",
    "current_consents",
    "customer_for_user",
    "erase_customer",
    "export_customer",
    "has_consent",
    "identify",
    "link_verified_identifier",
    "merge_customers",
    "recompute_traits",
    "record_contact",
    "record_customer_event",
    "record_events",
    "reject_review",
    "set_consent",
    "start_phone_verification",
    "suppress_address",
    "withdraw_marketing",
]
