"""Signed tokens for what a shopper does with a campaign message, and the ESP webhook signature.

* open pixel: the delivery id;
* click: the delivery id and the target URL (http/https only), the campaign's UTM parameters
  merged into the target's own query;
* unsubscribe: the customer, the channel and the campaign.

Each purpose signs with its own salt (``django.core.signing``, keyed by ``SECRET_KEY``), so a
token for one purpose is refused for another; the payload is a compact JSON list, compressed
when that is shorter. The tokens carry no expiry: a click or an unsubscribe link keeps working
in an old message. ``verify_*`` raise :class:`BadToken` on anything else than a token this code
signed. :func:`verify_webhook_signature` checks a bounce/complaint webhook's HMAC-SHA256
signature (``t=<unix time>,v1=<hex>``) in constant time within a timestamp tolerance.
"""

import functools
import hashlib
import hmac
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core import signing

SALT = "omni.campaigns.tracking."
MAX_TOKEN_LENGTH = 4096
MAX_URL_LENGTH = 2000
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")
UNSUBSCRIBE_CHANNELS = frozenset({"email", "sms", "push", "store"})
WEBHOOK_TOLERANCE = 300  # seconds either side of now


class BadToken(ValueError):
    """A tracking token that was not signed here for this purpose, or was altered."""

    code = "bad_token"


class BadWebhookSignature(ValueError):
    """A webhook whose signature is missing, malformed, wrong or outside the tolerance."""

    code = "bad_signature"


def _signer(purpose: str) -> signing.Signer:
    return signing.Signer(salt=SALT + purpose)


def _sign(purpose: str, payload: list) -> str:
    return _signer(purpose).sign_object(payload, compress=True)


def _unsign(purpose: str, token) -> list:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise BadToken("The link is not valid.")
    try:
        payload = _signer(purpose).unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeError) as exc:
        raise BadToken("The link is not valid.") from exc
    if not isinstance(payload, list):
        raise BadToken("The link is not valid.")
    return payload


def _positive_id(value) -> int:
    if type(value) is not int or value <= 0:
        raise BadToken("The link is not valid.")
    return value


# --- Open pixel -------------------------------------------------------------------------------


def open_token(delivery_id: int) -> str:
    return _sign("open", [_checked_id(delivery_id)])


def verify_open_token(token) -> int:
    """The delivery id an open-pixel token was signed for."""
    payload = _unsign("open", token)
    if len(payload) != 1:
        raise BadToken("The link is not valid.")
    return _positive_id(payload[0])


# --- Click ------------------------------------------------------------------------------------


def _checked_id(value) -> int:
    if type(value) is not int or value <= 0:
        raise ValueError(f"an id must be a positive integer, not {value!r}")
    return value


def is_web_url(url) -> bool:
    return isinstance(url, str) and _is_web_str(url)


@functools.lru_cache(maxsize=4096)  # a campaign's messages repeat the same few links
def _is_web_str(url: str) -> bool:
    if not url or len(url) > MAX_URL_LENGTH:
        return False
    if any(c <= " " or c in "\\\x7f" for c in url):  # control characters, spaces, backslashes
        return False
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


@functools.lru_cache(maxsize=4096)
def with_utm(url: str, *, channel: str, campaign_slug: str) -> str:
    """``url`` with ``utm_source=omni``, ``utm_medium=<channel>`` and ``utm_campaign=<slug>``;
    its own query parameters (in their order) and fragment are kept, its own UTM values
    replaced."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in UTM_KEYS]
    query += [("utm_source", "omni"), ("utm_medium", channel), ("utm_campaign", campaign_slug)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def click_token(delivery_id: int, target_url: str, *, channel: str, campaign_slug: str) -> str:
    """A click redirect's token: the delivery and the target with the campaign's UTM tags.
    Only http and https targets are accepted (``ValueError`` otherwise)."""
    if not is_web_url(target_url):
        raise ValueError("a click target must be an http or https URL")
    url = with_utm(target_url, channel=channel, campaign_slug=campaign_slug)
    return _sign("click", [_checked_id(delivery_id), url])


def verify_click_token(token) -> tuple[int, str]:
    """``(delivery id, target URL with UTM tags)`` of a click token."""
    payload = _unsign("click", token)
    if len(payload) != 2 or not is_web_url(payload[1]):
        raise BadToken("The link is not valid.")
    return _positive_id(payload[0]), payload[1]


# --- Unsubscribe ------------------------------------------------------------------------------


def unsubscribe_token(customer_id: int, channel: str, campaign_id: int) -> str:
    if channel not in UNSUBSCRIBE_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return _sign("unsubscribe", [_checked_id(customer_id), channel, _checked_id(campaign_id)])


def verify_unsubscribe_token(token) -> tuple[int, str, int]:
    """``(customer id, channel, campaign id)`` of an unsubscribe token."""
    payload = _unsign("unsubscribe", token)
    if len(payload) != 3 or payload[1] not in UNSUBSCRIBE_CHANNELS:
        raise BadToken("The link is not valid.")
    return _positive_id(payload[0]), payload[1], _positive_id(payload[2])


# --- Webhooks ---------------------------------------------------------------------------------


def sign_webhook(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`` header for ``body``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={_webhook_digest(body, secret, str(timestamp))}"


def _webhook_digest(body: bytes, secret: str, timestamp: str) -> str:
    signed = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _parse_signature_header(header) -> tuple[str, list[str]]:
    if not isinstance(header, str) or not header or len(header) > 1000:
        raise BadWebhookSignature("missing signature")
    timestamp, signatures = None, []
    for item in header.split(","):
        key, _sep, value = item.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not timestamp.isascii() or not timestamp.isdigit() or not signatures:
        raise BadWebhookSignature("malformed signature")
    return timestamp, signatures


def verify_webhook_signature(
    body: bytes,
    signature_header,
    secret: str,
    *,
    tolerance: int = WEBHOOK_TOLERANCE,
    now: float | None = None,
) -> None:
    """Raise :class:`BadWebhookSignature` unless ``signature_header`` signs ``body`` with
    ``secret`` (any of its ``v1`` values, so a secret can be rotated) at a time within
    ``tolerance`` seconds of ``now``. Compared in constant time."""
    if not secret:
        raise BadWebhookSignature("no webhook secret configured")
    if not isinstance(body, bytes):
        raise BadWebhookSignature("the body must be bytes")
    timestamp, signatures = _parse_signature_header(signature_header)
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        raise BadWebhookSignature("signature timestamp outside the tolerance")
    expected = _webhook_digest(body, secret, timestamp).encode()
    matches = [hmac.compare_digest(expected, s.encode("ascii", "replace")) for s in signatures]
    if not any(matches):
        raise BadWebhookSignature("signature mismatch")
