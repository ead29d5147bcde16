"""Signed tracking tokens (open, click, unsubscribe) and the webhook signature."""

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns import tracking
from campaigns.tracking import (
    BadToken,
    BadWebhookSignature,
    click_token,
    open_token,
    sign_webhook,
    unsubscribe_token,
    verify_click_token,
    verify_open_token,
    verify_unsubscribe_token,
    verify_webhook_signature,
    with_utm,
)

ids = st.integers(min_value=1, max_value=2**63 - 1)
channels = st.sampled_from(sorted(tracking.UNSUBSCRIBE_CHANNELS))
slugs = st.from_regex(r"[a-z0-9][a-z0-9-]{0,40}", fullmatch=True)
query_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
targets = st.builds(
    lambda scheme, host, path, query: (
        f"{scheme}://{host}/{path}?" + "&".join(f"k{i}={v}" for i, v in enumerate(query))
    ),
    st.sampled_from(["http", "https", "HTTPS"]),
    st.from_regex(r"[a-z]{1,10}\.example", fullmatch=True),
    st.from_regex(r"[a-z0-9/]{0,20}", fullmatch=True),
    st.lists(st.from_regex(r"[a-zA-Z0-9]{0,8}", fullmatch=True), max_size=4),
)


@given(ids)
def test_open_token_round_trip(delivery_id):
    assert verify_open_token(open_token(delivery_id)) == delivery_id


@given(ids, targets, channels, slugs)
def test_click_token_round_trip(delivery_id, target, channel, slug):
    token = click_token(delivery_id, target, channel=channel, campaign_slug=slug)
    assert verify_click_token(token) == (
        delivery_id,
        with_utm(target, channel=channel, campaign_slug=slug),
    )


@given(ids, channels, ids)
def test_unsubscribe_token_round_trip(customer_id, channel, campaign_id):
    token = unsubscribe_token(customer_id, channel, campaign_id)
    assert verify_unsubscribe_token(token) == (customer_id, channel, campaign_id)


@given(ids, st.integers(min_value=0, max_value=200), st.characters(codec="ascii"))
def test_a_token_changed_in_any_character_is_refused(delivery_id, position, character):
    token = unsubscribe_token(delivery_id, "email", 5)
    position %= len(token)
    tampered = token[:position] + character + token[position + 1 :]
    if tampered != token:
        with pytest.raises(BadToken):
            verify_unsubscribe_token(tampered)


def test_tokens_are_compact_and_url_safe():
    token = unsubscribe_token(123456, "email", 789)
    assert len(token) < 80
    assert all(c.isalnum() or c in "-_:." for c in token)


def test_a_token_for_one_purpose_is_refused_for_another():
    token = open_token(42)
    with pytest.raises(BadToken):
        verify_unsubscribe_token(token)
    with pytest.raises(BadToken):
        verify_click_token(token)
    with pytest.raises(BadToken):
        verify_open_token(unsubscribe_token(42, "sms", 1))


def test_a_token_signed_with_another_key_is_refused(settings):
    token = open_token(42)
    settings.SECRET_KEY = "another-secret-key-entirely-0123456789"
    with pytest.raises(BadToken):
        verify_open_token(token)


@pytest.mark.parametrize(
    "token", ["", None, 42, "x" * 5000, "abc:def", "\x00", "\ud800", "a:b:c", ["list"]]
)
def test_garbage_tokens_are_refused(token):
    for verify in (verify_open_token, verify_click_token, verify_unsubscribe_token):
        with pytest.raises(BadToken):
            verify(token)


def test_a_signed_payload_of_the_wrong_shape_is_refused():
    signer = tracking._signer("unsubscribe")
    for payload in ([1, "fax", 2], [0, "email", 2], ["1", "email", 2], [1, "email"], {"a": 1}):
        with pytest.raises(BadToken):
            verify_unsubscribe_token(signer.sign_object(payload))
    click = tracking._signer("click")
    with pytest.raises(BadToken):
        verify_click_token(click.sign_object([1, "javascript:alert(1)"]))


@pytest.mark.parametrize(
    "target",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.example/a",
        "mailto:someone@example.com",
        "//evil.example/path",
        "/relative/path",
        "https://",
        "https:\\\\evil.example",
        "https://shop.example/a b",
        "https://shop.example/\x00",
        "",
        None,
        "https://shop.example/" + "a" * 3000,
    ],
)
def test_non_http_click_targets_are_refused(target):
    with pytest.raises(ValueError):
        click_token(1, target, channel="email", campaign_slug="spring")


def test_wrong_ids_and_channels_are_refused_when_signing():
    for bad in (0, -1, "1", 1.0, True, None):
        with pytest.raises(ValueError):
            open_token(bad)
    with pytest.raises(ValueError):
        unsubscribe_token(1, "fax", 1)


def test_utm_parameters_merge_into_the_targets_own_query():
    url = with_utm(
        "https://shop.example/p/boots?size=42&color=red&utm_source=newsletter#reviews",
        channel="sms",
        campaign_slug="spring-sale",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == (
        "https",
        "shop.example",
        "/p/boots",
        "reviews",
    )
    assert parse_qsl(parts.query) == [
        ("size", "42"),
        ("color", "red"),
        ("utm_source", "omni"),
        ("utm_medium", "sms"),
        ("utm_campaign", "spring-sale"),
    ]


def test_utm_parameters_on_a_target_without_query():
    url = with_utm("https://shop.example/", channel="email", campaign_slug="x")
    assert url == "https://shop.example/?utm_source=omni&utm_medium=email&utm_campaign=x"


@given(targets, channels, slugs)
def test_utm_merge_keeps_every_own_parameter(target, channel, slug):
    merged = parse_qsl(urlsplit(with_utm(target, channel=channel, campaign_slug=slug)).query)
    own = parse_qsl(urlsplit(target).query, keep_blank_values=True)
    assert [pair for pair in merged if pair[0] not in tracking.UTM_KEYS] == [
        pair for pair in own if pair[1]
    ]
    assert dict(merged)["utm_medium"] == channel


# --- webhook signature ----------------------------------------------------------------------------

SECRET = "whsec_test_0123456789"
BODY = b'{"event": "bounced", "recipient": "ann@example.com"}'


def test_a_good_webhook_signature_passes():
    header = sign_webhook(BODY, SECRET, timestamp=1_700_000_000)
    verify_webhook_signature(BODY, header, SECRET, now=1_700_000_010)


def test_a_rotated_secret_passes_with_any_of_its_signatures():
    old = sign_webhook(BODY, "old-secret", timestamp=1_700_000_000)
    new = sign_webhook(BODY, SECRET, timestamp=1_700_000_000)
    header = old + "," + new.split(",")[1]
    verify_webhook_signature(BODY, header, SECRET, now=1_700_000_000)


@pytest.mark.parametrize(
    ("body", "header", "secret"),
    [
        (BODY + b" ", sign_webhook(BODY, SECRET, 1_700_000_000), SECRET),  # body changed
        (BODY, sign_webhook(BODY, "wrong", 1_700_000_000), SECRET),  # other secret
        (BODY, sign_webhook(BODY, SECRET, 1_700_000_000).replace("t=1700000000", "t=1700000001"), SECRET),  # timestamp changed
        (BODY, "", SECRET),
        (BODY, None, SECRET),
        (BODY, "v1=abc", SECRET),
        (BODY, "t=1700000000", SECRET),
        (BODY, "t=abc,v1=abc", SECRET),
        (BODY, "t=1700000000,v1=\u00e9\u00e9", SECRET),
        (BODY, "x" * 2000, SECRET),
        (BODY, sign_webhook(BODY, SECRET, 1_700_000_000), ""),  # no secret configured
        ("text", sign_webhook(BODY, SECRET, 1_700_000_000), SECRET),
    ],
)  # fmt: skip
def test_a_bad_webhook_signature_is_refused(body, header, secret):
    with pytest.raises(BadWebhookSignature):
        verify_webhook_signature(body, header, secret, now=1_700_000_000)


def test_an_expired_or_future_webhook_signature_is_refused():
    header = sign_webhook(BODY, SECRET, timestamp=1_700_000_000)
    verify_webhook_signature(BODY, header, SECRET, now=1_700_000_000 + 300)
    with pytest.raises(BadWebhookSignature, match="tolerance"):
        verify_webhook_signature(BODY, header, SECRET, now=1_700_000_000 + 301)
    with pytest.raises(BadWebhookSignature, match="tolerance"):
        verify_webhook_signature(BODY, header, SECRET, now=1_700_000_000 - 301)
    with pytest.raises(BadWebhookSignature, match="tolerance"):
        verify_webhook_signature(BODY, header, SECRET, tolerance=5, now=1_700_000_006)


def test_the_current_time_is_the_default():
    verify_webhook_signature(BODY, sign_webhook(BODY, SECRET), SECRET)
