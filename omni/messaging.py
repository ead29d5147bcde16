"""Delivering messages to people: e-mail, SMS and push behind one interface.

``send(channel=..., to=..., subject=..., body=...)`` picks the backend configured for the channel
in ``settings.MESSAGING_BACKENDS`` (a dotted path per channel). E-mail goes through Django's
e-mail backend; SMS and push print to the console in the demo (swap in a provider's backend in
production); tests use ``RecordingBackend``. Call it from ``transaction.on_commit``: a message
must never go out for a write that rolled back.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

CHANNELS = ("email", "sms", "push")


@dataclass(frozen=True)
class Message:
    channel: str
    to: str
    subject: str
    body: str


class EmailBackend:
    def send(self, message: Message) -> None:
        send_mail(message.subject, message.body, None, [message.to])


class ConsoleBackend:
    def send(self, message: Message) -> None:
        logger.info("%s to %s: %s", message.channel, message.to, message.body)
        print(f"[{message.channel} → {message.to}] {message.subject}\n{message.body}")


class RecordingBackend:
    """Keeps every message in ``RecordingBackend.outbox`` (tests)."""

    outbox: list[Message] = []

    def send(self, message: Message) -> None:
        self.outbox.append(message)


def backend_for(channel: str):
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return import_string(settings.MESSAGING_BACKENDS[channel])()


def send(*, channel: str, to: str, subject: str = "", body: str) -> Message:
    message = Message(channel=channel, to=to, subject=subject, body=body)
    backend_for(channel).send(message)
    return message
