"""Times as people read them: "3:21 PM Eastern Time, December 2, 2026", in the page's language.

Session times are Unix seconds in UTC; the pages show them in ``loginsite.display_timezone``
with Babel's CLDR formats and zone names, and keep the exact instant in ``<time datetime>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class ReadableTime:
    iso: str  #: the instant, for ``<time datetime>``
    text: str  #: what the page says


def readable_time(timestamp: int, zone: str, locale: str) -> ReadableTime:
    # Imported at first use: loading Babel's locale data would slow every start-up.
    from babel.dates import format_date, format_time, get_timezone, get_timezone_name

    tz = get_timezone(zone)
    moment = datetime.fromtimestamp(timestamp, UTC).astimezone(tz)
    clock = format_time(moment, "short", tzinfo=tz, locale=locale)
    zone_name = get_timezone_name(tz, "long", "generic", locale=locale)
    day = format_date(moment, "long", locale=locale)
    return ReadableTime(moment.isoformat(), f"{clock} {zone_name}, {day}")
