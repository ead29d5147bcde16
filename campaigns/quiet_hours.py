"""Quiet hours: marketing messages wait until the recipient's morning, they are never dropped.

The window is local time in the customer's zone (their home store's), e.g. 21:00–09:00, and may
wrap midnight. ``next_allowed`` answers "when may this message go out": the moment itself when
it is outside the window, else the first instant the window ends, on the local calendar, so that
a daylight-saving change moves the send with the clock on the wall and not by a fixed offset.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

DEFAULT_QUIET_HOURS = ("21:00", "09:00")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    @classmethod
    def parse(cls, start: str, end: str) -> "QuietHours":
        return cls(time.fromisoformat(start), time.fromisoformat(end))

    @classmethod
    def configured(cls) -> "QuietHours":
        """``settings.CAMPAIGN_QUIET_HOURS`` ("HH:MM", "HH:MM"); equal ends switch it off."""
        start, end = getattr(settings, "CAMPAIGN_QUIET_HOURS", DEFAULT_QUIET_HOURS)
        return cls.parse(start, end)

    def contains(self, local: time) -> bool:
        local = local.replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def next_allowed(moment: datetime, *, zone: ZoneInfo, quiet: QuietHours) -> datetime:
    """The first instant at or after ``moment`` (aware) outside ``quiet`` in ``zone``, in UTC."""
    if moment.tzinfo is None:
        raise ValueError("next_allowed needs an aware datetime")
    local = moment.astimezone(zone)
    if not quiet.contains(local.timetz()):
        return moment.astimezone(UTC)
    day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        day += timedelta(days=1)  # late evening: the window ends tomorrow morning
    wall = datetime.combine(day, quiet.end, tzinfo=zone)
    # A wall time in a spring-forward gap does not exist: fold 0 reads it with the offset before
    # the gap, which lands past the gap (02:30 → 03:30). One that occurs twice (fall back): the
    # first occurrence unless the moment is already past it.
    for fold in (0, 1):
        candidate = wall.replace(fold=fold).astimezone(UTC)
        if candidate >= moment:
            return candidate
    return moment.astimezone(UTC)  # unreachable: fold 1 of today's end is after a moment before it
