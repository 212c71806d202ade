"""Session times as people read them, in the configured zone and the page's language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loginsite.account.times import readable_time


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("instant", "zone", "locale", "shown"),
    [
        (
            "2026-12-02T20:21:00",
            "America/New_York",
            "en",
            "3:21\u202fPM Eastern Time, December 2, 2026",
        ),
        (
            "2026-07-04T16:05:00",
            "America/New_York",
            "en",
            "12:05\u202fPM Eastern Time, July 4, 2026",
        ),
        (
            "2026-12-02T20:21:00",
            "America/Chicago",
            "en",
            "2:21\u202fPM Central Time, December 2, 2026",
        ),
        (
            "2026-12-03T04:30:00",
            "America/Los_Angeles",
            "en",
            "8:30\u202fPM Pacific Time, December 2, 2026",
        ),
        (
            "2026-12-02T20:21:00",
            "America/New_York",
            "es",
            "15:21 hora oriental, 2 de diciembre de 2026",
        ),
    ],
)
def test_readable_time(instant: str, zone: str, locale: str, shown: str) -> None:
    time = readable_time(ts(instant), zone, locale)
    assert time.text == shown
    assert datetime.fromisoformat(time.iso) == datetime.fromisoformat(instant).replace(tzinfo=UTC)
