"""PostgreSQL dates and timestamps: binary integers <-> ISO text, over PostgreSQL's own range.

Binary dates are Int32 days and timestamps Int64 microseconds since 2000-01-01 (UTC for
timestamptz). Python's ``datetime`` stops at year 9999 and knows no BC, so the calendar
arithmetic is PostgreSQL's (``date2j`` / ``j2date`` in ``src/backend/utils/adt/datetime.c``).
Text is ``DateStyle=ISO``; timestamptz is printed and, without an offset, read as UTC
(``TimeZone=UTC``), since a codec does not know the session's time zone.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

from understudy.errors import PgProtocolError

__all__ = ["format_date", "format_timestamp", "parse_date", "parse_timestamp"]

POSTGRES_EPOCH_JDATE = 2451545  # date2j(2000, 1, 1)
USECS_PER_DAY = 86_400_000_000
DATE_END_JULIAN = 2147483494  # date2j(5874898, 1, 1): first day out of range
MIN_TIMESTAMP = -211813488000000000  # 4714-11-24 00:00:00 BC (Julian day 0)
END_TIMESTAMP = 9223371331200000000  # 294277-01-01 00:00:00: first instant out of range
DATE_NOBEGIN, DATE_NOEND = -(2**31), 2**31 - 1
TS_NOBEGIN, TS_NOEND = -(2**63), 2**63 - 1

_DATE = r"(?P<y>\d{1,9})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
_TIME = r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d+))?)?"
_ZONE = r"(?:(?P<z>[zZ])|(?P<zs>[+-])(?P<zh>\d{1,2})(?::?(?P<zm>\d{2})(?::?(?P<zsec>\d{2}))?)?)"
_DATE_RE = re.compile(rf"\s*{_DATE}(?P<bc>\s+BC)?\s*", re.IGNORECASE)
_TIMESTAMP_RE = re.compile(rf"\s*{_DATE}[ Tt]{_TIME}\s*{_ZONE}?(?P<bc>\s+BC)?\s*", re.IGNORECASE)
_INFINITIES = {"infinity": 1, "+infinity": 1, "-infinity": -1}


def date2j(year: int, month: int, day: int) -> int:
    """Julian day number of a proleptic Gregorian date (year 0 is 1 BC)."""
    if month > 2:
        month += 1
        year += 4800
    else:
        month += 13
        year += 4799
    century = year // 100
    julian = year * 365 - 32167
    julian += year // 4 - century + century // 4
    julian += 7834 * month // 256 + day
    return julian


def j2date(jd: int) -> tuple[int, int, int]:
    """The (year, month, day) of a Julian day number >= 0; the inverse of :func:`date2j`."""
    julian = jd + 32044
    quad = julian // 146097
    extra = (julian - quad * 146097) * 4 + 3
    julian += 60 + quad * 3 + extra // 146097
    quad = julian // 1461
    julian -= quad * 1461
    y = julian * 4 // 1461
    julian = ((julian + 305) % 365 if y != 0 else (julian + 306) % 366) + 123
    y += quad * 4
    quad = julian * 2141 // 65536
    return y - 4800, (quad + 10) % 12 + 1, julian - 7834 * quad // 256


def _ymd_text(year: int, month: int, day: int) -> tuple[str, bool]:
    bc = year <= 0
    return f"{1 - year if bc else year:04d}-{month:02d}-{day:02d}", bc


def format_date(days: int) -> str:
    """ISO text of a binary date (days since 2000-01-01)."""
    if days in (DATE_NOBEGIN, DATE_NOEND):
        return "-infinity" if days == DATE_NOBEGIN else "infinity"
    jd = days + POSTGRES_EPOCH_JDATE
    if not 0 <= jd < DATE_END_JULIAN:
        raise PgProtocolError(f"date out of range: {days} days from 2000-01-01")
    text, bc = _ymd_text(*j2date(jd))
    return text + " BC" if bc else text


def format_timestamp(usecs: int, *, utc_offset: bool) -> str:
    """ISO text of a binary timestamp; ``utc_offset`` adds ``+00`` (timestamptz in UTC)."""
    if usecs in (TS_NOBEGIN, TS_NOEND):
        return "-infinity" if usecs == TS_NOBEGIN else "infinity"
    if not MIN_TIMESTAMP <= usecs < END_TIMESTAMP:
        raise PgProtocolError(f"timestamp out of range: {usecs} us from 2000-01-01")
    days, rest = divmod(usecs, USECS_PER_DAY)
    date, bc = _ymd_text(*j2date(days + POSTGRES_EPOCH_JDATE))
    secs, fraction = divmod(rest, 1_000_000)
    minutes, s = divmod(secs, 60)
    h, mi = divmod(minutes, 60)
    text = f"{date} {h:02d}:{mi:02d}:{s:02d}"
    if fraction:
        text += f".{fraction:06d}".rstrip("0")
    if utc_offset:
        text += "+00"
    return text + " BC" if bc else text


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _julian(m: re.Match[str], what: str) -> int:
    year, month, day = int(m["y"]), int(m["mo"]), int(m["d"])
    if m["bc"]:
        if year == 0:
            raise PgProtocolError(f"invalid {what}: there is no year 0 BC")
        year = 1 - year
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        raise PgProtocolError(f"invalid {what}: no day {m['y']}-{m['mo']}-{m['d']}")
    return date2j(year, month, day)


def parse_date(text: str) -> int:
    """Days since 2000-01-01 of ISO text (``YYYY-MM-DD [BC]``, ``[-]infinity``)."""
    infinity = _INFINITIES.get(text.strip().lower())
    if infinity is not None:
        return DATE_NOEND if infinity > 0 else DATE_NOBEGIN
    m = _DATE_RE.fullmatch(text)
    if m is None:
        raise PgProtocolError(f"invalid date {text!r}: expected YYYY-MM-DD")
    jd = _julian(m, "date")
    if not 0 <= jd < DATE_END_JULIAN:
        raise PgProtocolError(f"date out of range: {text!r}")
    return jd - POSTGRES_EPOCH_JDATE


def _zone_seconds(m: re.Match[str]) -> int:
    if m["zs"] is None:
        return 0
    seconds = int(m["zh"]) * 3600 + int(m["zm"] or 0) * 60 + int(m["zsec"] or 0)
    return -seconds if m["zs"] == "-" else seconds


def parse_timestamp(text: str, *, with_zone: bool) -> int:
    """Microseconds since 2000-01-01 of ISO text; the offset counts only ``with_zone``."""
    infinity = _INFINITIES.get(text.strip().lower())
    if infinity is not None:
        return TS_NOEND if infinity > 0 else TS_NOBEGIN
    m = _TIMESTAMP_RE.fullmatch(text)
    if m is None:
        raise PgProtocolError(f"invalid timestamp {text!r}: expected YYYY-MM-DD HH:MM:SS")
    h, mi, s = int(m["h"]), int(m["mi"]), int(m["s"] or 0)
    fraction = 0
    if m["f"]:
        micro = Decimal("0." + m["f"]).scaleb(6).quantize(Decimal(1), ROUND_HALF_EVEN)
        fraction = int(micro)
    if mi > 59 or s > 60 or h > 24 or (h == 24 and (mi or s or fraction)):
        raise PgProtocolError(f"invalid timestamp {text!r}: time out of range")
    seconds = ((_julian(m, "timestamp") - POSTGRES_EPOCH_JDATE) * 24 + h) * 3600 + mi * 60 + s
    if with_zone:
        seconds -= _zone_seconds(m)
    usecs = seconds * 1_000_000 + fraction
    if not MIN_TIMESTAMP <= usecs < END_TIMESTAMP:
        raise PgProtocolError(f"timestamp out of range: {text!r}")
    return usecs
