"""SillyTavern message timestamps: read every format it ever wrote, write ISO-8601.

SillyTavern 1.18 writes ``new Date().toISOString()`` (``2025-12-01T10:00:20.000Z``).
Older versions wrote ``June 19, 2023 2:20pm`` or ``2024-07-12@01h31m37s123ms``, and
``timestampToMoment()`` also accepts epoch milliseconds.  Timestamps without a zone are
taken as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_HUMANIZED = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})\s*@\s*(\d{1,2})h\s*(\d{1,2})m\s*(\d{1,2})s"
    r"(?:\s*(\d{1,3})\s*ms)?$"
)
_LONG_FORMATS = ("%B %d, %Y %I:%M%p", "%B %d, %Y %I:%M %p", "%b %d, %Y %I:%M%p")


def parse_timestamp(value: object) -> datetime | None:
    """Parse a SillyTavern timestamp into an aware UTC datetime, or ``None`` if unknown."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _from_epoch_ms(float(value))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return _from_epoch_ms(float(text))
    return _parse_iso(text) or _parse_humanized(text) or _parse_long(text)


def format_timestamp(moment: datetime) -> str:
    """Format a datetime as JavaScript's ``Date.toISOString()`` does (UTC, milliseconds)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _from_epoch_ms(ms: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return _as_utc(moment)


def _parse_humanized(text: str) -> datetime | None:
    match = _HUMANIZED.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    ms = int(match.group(7) or 0)
    try:
        return datetime(year, month, day, hour, minute, second, ms * 1000, tzinfo=UTC)
    except ValueError:
        return None


def _parse_long(text: str) -> datetime | None:
    for fmt in _LONG_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
