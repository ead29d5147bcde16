"""Quiet hours: a message planned inside the window goes out at the next allowed local time."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.quiet_hours import QuietHours, next_allowed

MADRID = ZoneInfo("Europe/Madrid")
NIGHT = QuietHours.parse("21:00", "09:00")


def _madrid(*args, fold=0):
    return datetime(*args, tzinfo=MADRID, fold=fold)


def test_outside_the_window_the_moment_itself():
    moment = _madrid(2026, 12, 5, 12, 0)
    assert next_allowed(moment, zone=MADRID, quiet=NIGHT) == moment


def test_late_evening_waits_for_tomorrow_morning_local_time():
    planned = _madrid(2026, 12, 5, 22, 15)
    assert next_allowed(planned, zone=MADRID, quiet=NIGHT) == _madrid(2026, 12, 6, 9, 0)


def test_early_morning_waits_for_the_same_morning():
    planned = _madrid(2026, 12, 5, 6, 40)
    assert next_allowed(planned, zone=MADRID, quiet=NIGHT) == _madrid(2026, 12, 5, 9, 0)


def test_the_same_instant_is_quiet_in_one_zone_and_not_in_another():
    moment = datetime(2026, 12, 5, 7, 30, tzinfo=UTC)  # 08:30 in Madrid, 02:30 in Mexico City
    assert next_allowed(moment, zone=ZoneInfo("Atlantic/Canary"), quiet=NIGHT) == datetime(
        2026, 12, 5, 9, 0, tzinfo=UTC
    )
    assert next_allowed(moment, zone=ZoneInfo("Asia/Tokyo"), quiet=NIGHT) == moment  # 16:30


def test_the_send_follows_the_wall_clock_across_a_daylight_saving_change():
    planned = _madrid(2026, 3, 28, 23, 0)  # the night clocks go forward (UTC+1 → UTC+2)
    sent = next_allowed(planned, zone=MADRID, quiet=NIGHT)
    assert sent.astimezone(MADRID).time() == time(9, 0)
    assert sent - planned == timedelta(hours=9)  # ten hours on the wall, nine elapsed


def test_a_window_ending_in_the_spring_forward_gap_ends_when_the_clock_jumps():
    quiet = QuietHours.parse("01:00", "02:30")  # 02:30 does not exist on 2026-03-29 in Madrid
    sent = next_allowed(_madrid(2026, 3, 29, 1, 30), zone=MADRID, quiet=quiet)
    assert sent == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST


def test_a_window_ending_at_a_repeated_hour_never_goes_back_in_time():
    quiet = QuietHours.parse("01:00", "02:30")  # 02:00–03:00 happens twice on 2026-10-25
    planned = _madrid(2026, 10, 25, 2, 10, fold=1)  # the second 02:10 (CET)
    sent = next_allowed(planned, zone=MADRID, quiet=quiet)
    assert sent == _madrid(2026, 10, 25, 2, 30, fold=1).astimezone(UTC)


def test_equal_ends_mean_no_quiet_hours_and_naive_moments_are_refused():
    always = QuietHours.parse("09:00", "09:00")
    moment = _madrid(2026, 12, 5, 3, 0)
    assert next_allowed(moment, zone=MADRID, quiet=always) == moment
    with pytest.raises(ValueError):
        next_allowed(datetime(2026, 12, 5, 3, 0), zone=MADRID, quiet=NIGHT)


def test_the_window_comes_from_settings(settings):
    settings.CAMPAIGN_QUIET_HOURS = ("22:00", "08:00")
    assert QuietHours.configured() == QuietHours(time(22, 0), time(8, 0))


ZONES = st.sampled_from(["Europe/Madrid", "America/New_York", "Australia/Lord_Howe", "UTC"])
TIMES = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)
    ),
    zone=ZONES,
    start=TIMES,
    end=TIMES,
)
def test_never_earlier_never_quiet_and_within_a_day(moment, zone, start, end):
    quiet, tz = QuietHours(start, end), ZoneInfo(zone)
    sent = next_allowed(moment, zone=tz, quiet=quiet)
    assert moment <= sent <= moment + timedelta(hours=26)
    assert not quiet.contains(sent.astimezone(tz).time()) or sent.astimezone(tz).time() == end
    if not quiet.contains(moment.astimezone(tz).time()):
        assert sent == moment
