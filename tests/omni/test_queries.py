"""omni.queries: the idempotency claim's SQL path against its ORM twin."""

import pytest

from omni import queries
from omni.models import IdempotencyKey

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sql_path")]


def test_claim_then_save_then_claim_again():
    record = queries.claim_idempotency_key("orders", "K", "fp")
    assert record.pk and (record.status_code, record.response) == (0, None)
    record.status_code, record.response = 201, {"id": 7}
    queries.save_idempotent_response(record)

    assert queries.claim_idempotency_key("orders", "K", "other") is None
    stored = IdempotencyKey.objects.get(pk=record.pk)
    assert (stored.fingerprint, stored.status_code, stored.response) == ("fp", 201, {"id": 7})
    assert stored.created_at == record.created_at
    assert queries.claim_idempotency_key("returns", "K", "fp") is not None  # scoped


def test_both_paths_write_the_same_row(settings):
    rows = []
    for fast, key in ((True, "A"), (False, "B")):
        settings.OMNI_FAST_SQL = fast
        record = queries.claim_idempotency_key("s", key, "fp")
        stored = IdempotencyKey.objects.get(pk=record.pk)
        rows.append((stored.scope, stored.fingerprint, stored.status_code, stored.response))
        assert queries.claim_idempotency_key("s", key, "fp") is None
    assert rows[0] == rows[1]
