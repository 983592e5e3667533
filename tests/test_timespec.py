"""--since/--until as people write them (hand-worked instants), and Windows zone names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.timespec import TimeSpecError, parse_instant, zone_named
from pipeline.zones import iana_zone

NOW = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
BERLIN = zone_named("Europe/Berlin")


@pytest.mark.parametrize(("text", "zone", "want"), [
    ("2026-11-11T15:10:00Z", None, datetime(2026, 11, 11, 15, 10, tzinfo=UTC)),
    ("2026-11-11T16:10+01:00", BERLIN, datetime(2026, 11, 11, 15, 10, tzinfo=UTC)),  # an offset wins over --tz
    ("2026-11-11", None, datetime(2026, 11, 11, tzinfo=UTC)),
    ("2026-11-11", BERLIN, datetime(2026, 11, 10, 23, tzinfo=UTC)),  # Berlin's midnight (CET, +01:00)
    ("2026-07-01 08:00", BERLIN, datetime(2026, 7, 1, 6, tzinfo=UTC)),  # summer time, +02:00
    ("2026-11-11T08:00:30", None, datetime(2026, 11, 11, 8, 0, 30, tzinfo=UTC)),
    ("24h", None, datetime(2026, 11, 10, 12, tzinfo=UTC)),
    ("7d", BERLIN, datetime(2026, 11, 4, 12, tzinfo=UTC)),  # relative forms ignore the zone
    ("90s", None, datetime(2026, 11, 11, 11, 58, 30, tzinfo=UTC)),
    ("2w", None, datetime(2026, 10, 28, 12, tzinfo=UTC)),
    ("today", None, datetime(2026, 11, 11, tzinfo=UTC)),
    ("yesterday", None, datetime(2026, 11, 10, tzinfo=UTC)),
    ("yesterday", BERLIN, datetime(2026, 11, 9, 23, tzinfo=UTC)),
    ("now", None, NOW),
])
def test_time_forms(text, zone, want):
    assert parse_instant(text, zone, now=NOW) == want


def test_yesterday_across_a_dst_change_is_that_day_s_own_midnight():
    # 2026-10-26 12:00 UTC in Berlin: yesterday is 2026-10-25, whose midnight was still summer time (+02:00)
    now = datetime(2026, 10, 26, 12, tzinfo=UTC)
    assert parse_instant("yesterday", BERLIN, now=now) == datetime(2026, 10, 24, 22, tzinfo=UTC)
    assert parse_instant("today", BERLIN, now=now) == datetime(2026, 10, 25, 23, tzinfo=UTC)


@pytest.mark.parametrize("text", ["last tuesday", "2026-13-01", "7 parsecs", ""])
def test_unreadable_times_say_which_forms_work(text):
    with pytest.raises(TimeSpecError, match="24h, 7d, yesterday"):
        parse_instant(text, None, now=NOW)


def test_windows_zone_names_map_to_iana():
    assert iana_zone("W. Europe Standard Time") == "Europe/Berlin"
    assert iana_zone("eastern standard time") == "America/New_York"
    assert iana_zone("Europe/Paris") == "Europe/Paris"
    with pytest.raises(LookupError, match="tzutil"):
        iana_zone("Mars Standard Time")
    with pytest.raises(TimeSpecError):
        zone_named("Mars Standard Time")
