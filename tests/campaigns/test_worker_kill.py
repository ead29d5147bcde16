"""A real Celery worker on Redis, killed with SIGKILL in the middle of a send and restarted:
every delivery reaches the provider at least once, none is skipped, and the delivery id each
message carries (its idempotency key) makes it exactly once for the shopper.

Needs Redis on 127.0.0.1:6379 (database 14, test-only); skipped without it.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from campaigns import planning
from campaigns.models import CampaignStatus, Delivery
from omni.messaging import FileBackend
from tests.campaigns.pipeline import campaign, shopper

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]
BROKER = "redis://127.0.0.1:6379/14"
ROOT = Path(__file__).resolve().parents[2]
HAND_OVER_PAUSE = 0.3  # seconds between the hand-over and the commit of each batch


class SlowFileBackend(FileBackend):
    """The file backend, then a pause before the batch's transaction commits: a SIGKILL then
    lands after the provider got the messages and before the rows are marked sent."""

    def send_many(self, messages):
        count = super().send_many(messages)
        time.sleep(HAND_OVER_PAUSE)
        return count


def _redis():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(BROKER)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    return client


def _start_worker(env: dict) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "omni",
        "worker",
        "--pool=solo",
        "-l",
        "warning",
    ]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _kill(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)


def _sent(directory: Path) -> Counter:
    path = directory / "email.jsonl"
    if not path.exists():
        return Counter()
    lines = path.read_text(encoding="utf-8").splitlines()
    return Counter(json.loads(line)["metadata"]["delivery_id"] for line in lines if line)


def _wait(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def worker_env(tmp_path):
    client = _redis()
    client.flushdb()  # database 14 is this test's own broker
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "omni.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "CELERY_BROKER_URL": BROKER,
        "MESSAGING_EMAIL_BACKEND": f"{__name__}.SlowFileBackend",
        "MESSAGING_FILE_DIR": str(tmp_path),
        "CAMPAIGN_SEND_BATCH": "5",
        "CAMPAIGN_QUIET_HOURS": "00:00,00:00",
        "OMNI_FAST_SQL": str(settings.OMNI_FAST_SQL),
    }
    yield env
    client.flushdb()


def test_worker_killed_mid_send_and_restarted_skips_nobody_and_dedupes_to_once(
    worker_env, tmp_path
):
    from celery import Celery

    for _ in range(60):
        shopper()
    made = campaign(status=CampaignStatus.SENDING)
    planning.plan_campaign(campaign=made)
    ids = set(Delivery.objects.filter(campaign=made).values_list("pk", flat=True))
    client = Celery(broker=BROKER)

    first = _start_worker(worker_env)
    try:
        client.send_task("campaigns.tasks.send_campaign_task", args=[made.pk])
        _wait(lambda: len(_sent(tmp_path)) >= 15)
        time.sleep(HAND_OVER_PAUSE / 3)  # inside a batch's pause: handed over, not committed
        _kill(first)
    finally:
        _kill(first)
    queued = Delivery.objects.filter(campaign=made, status="queued").count()
    assert 0 < queued < 60, "the kill should land mid-send"

    second = _start_worker(worker_env)
    try:
        # Beat's every-minute task resumes campaigns left with claimable rows.
        client.send_task("campaigns.tasks.start_due_campaigns_task")
        _wait(lambda: not Delivery.objects.filter(campaign=made, status="queued").exists())
        _wait(lambda: type(made).objects.get(pk=made.pk).status == "finished")
    finally:
        _kill(second)

    sent = _sent(tmp_path)
    assert set(sent) == ids  # nobody skipped: every delivery reached the provider
    assert set(Delivery.objects.filter(campaign=made).values_list("status", flat=True)) == {"sent"}
    assert len(ids) == 60 == len(set(sent))  # deduped by delivery id: exactly once
    # At least once: the batch in flight at the kill was handed over again (and only that one).
    assert 1 <= sum(sent.values()) - len(sent) <= 5
