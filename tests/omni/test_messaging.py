"""omni.messaging: the e-mail backend on Django's mail connection, the provider backends."""

import json
import threading
from email import message_from_bytes

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from omni import messaging
from omni.messaging import (
    ConsoleBackend,
    EmailBackend,
    FileBackend,
    Message,
    RecordingBackend,
    send,
    send_many,
)


class CountingBackend(LocmemBackend):
    """The locmem backend, counting the connections made and the batches sent."""

    connections = 0
    batches: list[int] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        type(self).connections += 1

    def send_messages(self, messages):
        type(self).batches.append(len(messages))
        return super().send_messages(messages)


@pytest.fixture
def counting(settings):
    settings.EMAIL_BACKEND = "tests.omni.test_messaging.CountingBackend"
    settings.MESSAGING_BACKENDS = {
        **settings.MESSAGING_BACKENDS,
        "email": "omni.messaging.EmailBackend",
    }
    CountingBackend.connections = 0
    CountingBackend.batches = []
    mail.outbox = []
    return CountingBackend


def email(n, **extra):
    return Message(channel="email", to=f"s{n}@example.com", subject=f"S{n}", body=f"B{n}", **extra)


def test_send_many_emails_go_through_one_connection(counting):
    sent = send_many([email(n, html=f"<p>B{n}</p>") for n in range(25)])
    assert sent == 25
    assert (counting.connections, counting.batches) == (1, [25])
    assert [m.to for m in mail.outbox] == [[f"s{n}@example.com"] for n in range(25)]
    first = mail.outbox[0]
    assert (first.subject, first.body) == ("S0", "B0")
    assert first.alternatives[0][0] == "<p>B0</p>" and first.alternatives[0][1] == "text/html"


def test_an_email_with_an_unsubscribe_url_carries_the_rfc_8058_headers(counting, settings):
    settings.MESSAGING_UNSUBSCRIBE_MAILTO = "unsub@omni.example"
    url = "https://omni.example/u/abc:def?x=1"
    send(channel="email", to="a@example.com", subject="Hi", body="b", unsubscribe_url=url)
    parsed = message_from_bytes(mail.outbox[0].message().as_bytes())
    assert " ".join(parsed["List-Unsubscribe"].split()) == (  # unfolded
        "<mailto:unsub@omni.example?subject=unsubscribe&body=https%3A%2F%2Fomni.example"
        "%2Fu%2Fabc%3Adef%3Fx%3D1>, <https://omni.example/u/abc:def?x=1>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_one_click_needs_https_and_no_mailbox_means_the_url_only(settings):
    settings.MESSAGING_UNSUBSCRIBE_MAILTO = ""
    assert messaging.unsubscribe_headers("http://127.0.0.1:8000/u/t") == {
        "List-Unsubscribe": "<http://127.0.0.1:8000/u/t>"
    }


@pytest.mark.parametrize(
    "url",
    ["javascript:x", "https://a.example/u>, <https://evil", "https://a.example/\r\nBcc: x", ""],
)
def test_a_bad_unsubscribe_url_is_refused(url):
    with pytest.raises(ValueError):
        messaging.unsubscribe_headers(url)


def test_an_email_without_unsubscribe_url_has_no_list_headers(counting):
    send(channel="email", to="a@example.com", subject="Pickup", body="ready")
    headers = mail.outbox[0].message()
    assert headers["List-Unsubscribe"] is None and headers["List-Unsubscribe-Post"] is None
    assert mail.outbox[0].alternatives == []


def test_extra_headers_and_esp_metadata_reach_the_email(counting):
    message = email(1, headers={"X-Campaign": "spring"}, metadata={"delivery_id": 7})
    EmailBackend().send(message)
    sent = mail.outbox[0]
    assert sent.extra_headers["X-Campaign"] == "spring"
    assert sent.metadata == {"delivery_id": 7}


def test_send_many_of_nothing_opens_nothing(counting):
    assert EmailBackend().send_many([]) == 0
    assert counting.batches == []


def test_send_keeps_its_old_signature_and_returns_the_message(outbox):
    message = send(channel="sms", to="+34600000000", body="hola")
    assert message == Message(channel="sms", to="+34600000000", subject="", body="hola")
    assert outbox == [message]
    assert hash(message)  # still usable in a set


def test_send_many_groups_by_channel(outbox):
    batch = [
        Message(channel="sms", to="+1", subject="", body="a"),
        email(1),
        Message(channel="push", to="tok", subject="T", body="b"),
        Message(channel="sms", to="+2", subject="", body="c"),
    ]
    assert send_many(batch) == 4
    assert [m.to for m in outbox] == ["+1", "+2", "s1@example.com", "tok"]


def test_send_many_falls_back_to_send_for_a_send_only_backend(settings):
    received = []

    class SendOnly:
        def send(self, message):
            received.append(message)

    settings.MESSAGING_BACKENDS = {"email": "x", "sms": "y", "push": "z"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(messaging, "import_string", lambda path: SendOnly)
        assert send_many([email(1), email(2)]) == 2
    assert len(received) == 2


def test_an_unknown_channel_is_refused(outbox):
    with pytest.raises(ValueError):
        send(channel="fax", to="x", body="y")
    with pytest.raises(ValueError):
        send_many([Message(channel="fax", to="x", subject="", body="y")])


def test_recording_backend_is_thread_safe(outbox):
    def worker(n):
        for i in range(200):
            RecordingBackend().send(Message(channel="sms", to=f"{n}", subject="", body=str(i)))
        RecordingBackend().send_many(
            [Message(channel="push", to=f"{n}", subject="", body="x")] * 50
        )

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outbox) == 8 * 250


def test_file_backend_writes_json_lines_per_channel(settings, tmp_path):
    settings.MESSAGING_FILE_DIR = tmp_path / "messages"
    backend = FileBackend()
    backend.send(Message(channel="sms", to="+34600000000", subject="", body="hola ñ"))
    assert backend.send_many([email(1, metadata={"delivery_id": 3}), email(2)]) == 2
    sms = [
        json.loads(line) for line in (tmp_path / "messages" / "sms.jsonl").read_text().splitlines()
    ]
    assert [(r["to"], r["body"]) for r in sms] == [("+34600000000", "hola ñ")]
    emails = (tmp_path / "messages" / "email.jsonl").read_text().splitlines()
    assert [json.loads(line)["to"] for line in emails] == ["s1@example.com", "s2@example.com"]
    assert json.loads(emails[0])["metadata"] == {"delivery_id": 3}
    assert "sent_at" in json.loads(emails[0])


def test_console_backend_prints(capsys):
    assert (
        ConsoleBackend().send_many([Message(channel="push", to="tok", subject="T", body="B")]) == 1
    )
    assert "[push → tok] T\nB" in capsys.readouterr().out


def test_the_base_backend_needs_a_send():
    with pytest.raises(NotImplementedError):
        messaging.Backend().send(email(1))
