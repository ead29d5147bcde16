"""omni.signals.send_on_commit: the news goes out after commit, with the caller's sender."""

import pytest
from django.dispatch import Signal

from omni.signals import send_on_commit

pytestmark = pytest.mark.django_db


def test_sent_after_commit_with_the_given_sender_and_arguments(django_capture_on_commit_callbacks):
    news = Signal()
    received = []
    news.connect(lambda sender, **kw: received.append((sender, kw)), weak=False)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send_on_commit(news, sender=str, thing_id=7)
    assert received == []  # not before commit
    for callback in callbacks:
        callback()
    assert received == [(str, {"signal": news, "thing_id": 7})]
