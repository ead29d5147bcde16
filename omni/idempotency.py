"""Idempotent writes: one table of keys and one helper that every retried write goes through.

A client that may retry a write sends an ``Idempotency-Key`` header. The first request with a key
runs the write and stores its response; a retry with the same key and the same request gets the
stored response and repeats no effect; the same key with a different request is a 422.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from omni import queries
from omni.exceptions import IdempotencyKeyReused, InvalidIdempotencyKey
from omni.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class IdempotentResult:
    status_code: int
    body: Any
    replayed: bool


def fingerprint(*parts: Any) -> str:
    """A stable hash of the request: method, path and the parsed body."""
    payload = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def clean_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidIdempotencyKey()
    return key


def run_idempotent(
    *,
    scope: str,
    key: str | None,
    request_fingerprint: str,
    action: Callable[[], tuple[int, Any]],
) -> IdempotentResult:
    """Run ``action`` at most once per (scope, key).

    ``action`` returns ``(status_code, json_body)`` and runs inside the same transaction as the
    key row, so either both commit or neither does. A concurrent request with the same key blocks
    on the unique index until the first commits, then replays its response.
    """
    if key is None:
        with transaction.atomic():
            status_code, body = action()
        return IdempotentResult(status_code, body, replayed=False)

    with transaction.atomic():
        record = queries.claim_idempotency_key(scope, key, request_fingerprint)
        if record is None:  # the key was used before (and that request has committed)
            existing = IdempotencyKey.objects.get(scope=scope, key=key)
            if existing.fingerprint != request_fingerprint:
                raise IdempotencyKeyReused()
            return IdempotentResult(existing.status_code, existing.response, replayed=True)

        status_code, body = action()
        record.status_code = status_code
        record.response = body
        queries.save_idempotent_response(record)
    return IdempotentResult(status_code, body, replayed=False)


def purge_expired_keys(*, older_than) -> int:
    cutoff = timezone.now() - older_than
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
