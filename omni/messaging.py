"""Delivering messages to people: e-mail, SMS and push behind one interface.

``send(channel=..., to=..., subject=..., body=...)`` picks the backend configured for the channel
in ``settings.MESSAGING_BACKENDS`` (a dotted path per channel); ``send_many(messages)`` hands a
batch to each channel's backend at once. Every backend is a :class:`Backend`: ``send(message)``
and ``send_many(messages)``.

* :class:`EmailBackend` builds an ``EmailMultiAlternatives`` per message (text body, the HTML
  alternative, extra headers, ``List-Unsubscribe`` and the RFC 8058 one-click
  ``List-Unsubscribe-Post`` when the message has an unsubscribe URL, ESP metadata) and sends a
  batch through one ``django.core.mail.get_connection()``, so Django's SMTP backend or
  django-anymail's ESP backends plug in through ``EMAIL_BACKEND``.
* SMS and push go through a provider's backend in production; :class:`ConsoleBackend` prints,
  :class:`FileBackend` writes JSON lines into ``settings.MESSAGING_FILE_DIR`` (the demo), and
  :class:`RecordingBackend` keeps them in memory (tests).

Call it from ``transaction.on_commit``: a message must never go out for a write that rolled back.
"""

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

CHANNELS = ("email", "sms", "push")
ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class Message:
    """One message to one person. ``subject`` is the e-mail subject or the push title; ``html``
    the e-mail's HTML alternative; ``headers`` extra e-mail headers; ``metadata`` what the
    provider should echo in its webhooks (e.g. the campaign delivery id)."""

    channel: str
    to: str
    subject: str
    body: str
    html: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)
    unsubscribe_url: str = ""


class Backend:
    """The provider interface: deliver one message, or a batch (one connection if the
    provider has such a thing). ``send_many`` returns how many were handed over."""

    def send(self, message: Message) -> None:
        raise NotImplementedError

    def send_many(self, messages: Iterable[Message]) -> int:
        count = 0
        for message in messages:
            self.send(message)
            count += 1
        return count


# --- E-mail -----------------------------------------------------------------------------------


def unsubscribe_headers(url: str) -> dict[str, str]:
    """``List-Unsubscribe`` (a mailto and the URL) for ``url``; with an https URL also the
    one-click ``List-Unsubscribe-Post`` of RFC 8058 (which requires https)."""
    if not url.startswith(("https://", "http://")) or any(c <= " " or c in '<>"\x7f' for c in url):
        raise ValueError('an unsubscribe URL must be an http(s) URL without spaces or <>"')
    links = [f"<{url}>"]
    if mailbox := settings.MESSAGING_UNSUBSCRIBE_MAILTO:
        links.insert(0, f"<mailto:{mailbox}?subject=unsubscribe&body={quote(url, safe='')}>")
    headers = {"List-Unsubscribe": ", ".join(links)}
    if url.startswith("https://"):
        headers["List-Unsubscribe-Post"] = ONE_CLICK
    return headers


def build_email(message: Message, connection=None) -> EmailMultiAlternatives:
    headers = dict(message.headers)
    if message.unsubscribe_url:
        headers.update(unsubscribe_headers(message.unsubscribe_url))
    email = EmailMultiAlternatives(
        message.subject, message.body, to=[message.to], headers=headers, connection=connection
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    if message.metadata:
        email.metadata = dict(message.metadata)  # django-anymail sends it to the ESP
    return email


class EmailBackend(Backend):
    """E-mail through Django's configured e-mail backend; a batch in one connection."""

    def send(self, message: Message) -> None:
        self.send_many([message])

    def send_many(self, messages: Iterable[Message]) -> int:
        connection = get_connection()
        emails = [build_email(message, connection) for message in messages]
        if not emails:
            return 0
        return connection.send_messages(emails) or 0


# --- SMS, push: development and test backends -------------------------------------------------


class ConsoleBackend(Backend):
    def send(self, message: Message) -> None:
        logger.info("%s to %s: %s", message.channel, message.to, message.body)
        print(f"[{message.channel} → {message.to}] {message.subject}\n{message.body}")


def _as_json_line(message: Message) -> str:
    record = {"sent_at": timezone.now().isoformat(), **asdict(message)}
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


class FileBackend(Backend):
    """Appends each message as one JSON line to ``<MESSAGING_FILE_DIR>/<channel>.jsonl`` (the
    demo: read what would have gone out). A batch is one write per channel."""

    def send(self, message: Message) -> None:
        self.send_many([message])

    def send_many(self, messages: Iterable[Message]) -> int:
        by_channel: dict[str, list[str]] = {}
        for message in messages:
            by_channel.setdefault(message.channel, []).append(_as_json_line(message))
        directory = Path(settings.MESSAGING_FILE_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        for channel, lines in by_channel.items():
            if channel not in CHANNELS:
                raise ValueError(f"unknown channel {channel!r}")
            with open(directory / f"{channel}.jsonl", "a", encoding="utf-8") as file:
                file.write("".join(lines))
        return sum(len(lines) for lines in by_channel.values())


class RecordingBackend(Backend):
    """Keeps every message in ``RecordingBackend.outbox`` (tests); safe from many threads."""

    outbox: list[Message] = []
    _lock = threading.Lock()

    def send(self, message: Message) -> None:
        with self._lock:
            type(self).outbox.append(message)

    def send_many(self, messages: Iterable[Message]) -> int:
        batch = list(messages)
        with self._lock:
            type(self).outbox.extend(batch)
        return len(batch)


# --- Entry points -----------------------------------------------------------------------------


def backend_for(channel: str):
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return import_string(settings.MESSAGING_BACKENDS[channel])()


def send(
    *,
    channel: str,
    to: str,
    subject: str = "",
    body: str,
    html: str = "",
    headers: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    unsubscribe_url: str = "",
) -> Message:
    message = Message(
        channel=channel,
        to=to,
        subject=subject,
        body=body,
        html=html,
        headers=dict(headers or {}),
        metadata=dict(metadata or {}),
        unsubscribe_url=unsubscribe_url,
    )
    backend_for(channel).send(message)
    return message


def send_many(messages: Iterable[Message]) -> int:
    """Hand ``messages`` to their channels' backends, one batch per channel (in order within
    each channel). Returns how many were handed over."""
    by_channel: dict[str, list[Message]] = {}
    for message in messages:
        by_channel.setdefault(message.channel, []).append(message)
    sent = 0
    for channel, batch in by_channel.items():
        backend = backend_for(channel)
        if hasattr(backend, "send_many"):
            sent += backend.send_many(batch)
        else:  # a backend with send() only
            for message in batch:
                backend.send(message)
            sent += len(batch)
    return sent
