"""Times and ages as the ledger commands and retention settings accept them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gitmoor.ledger.times import parse_age, parse_when

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(days=14)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 3h ", timedelta(hours=3)),
    ],
)
def test_ages(text: str, span: timedelta) -> None:
    assert parse_age(text) == span


@pytest.mark.parametrize("text", ["", "7", "d", "7x", "1.5h", "-3d", "7d ago", "3mo"])
def test_invalid_ages_name_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid age"):
        parse_age(text)


def test_a_relative_time_is_that_long_before_now() -> None:
    assert parse_when("7d", now=NOW) == datetime(2026, 10, 29, 12, 0, tzinfo=UTC)
    assert parse_when("12h", now=NOW) == datetime(2026, 11, 5, 0, 0, tzinfo=UTC)
    assert parse_when("now", now=NOW) == NOW


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T14:30", datetime(2026, 11, 1, 14, 30, tzinfo=UTC)),
        ("2026-11-01 14:30:15", datetime(2026, 11, 1, 14, 30, 15, tzinfo=UTC)),
        ("2026-11-01T14:30:00Z", datetime(2026, 11, 1, 14, 30, tzinfo=UTC)),
        ("2026-11-01T14:30:00+02:00", datetime(2026, 11, 1, 12, 30, tzinfo=UTC)),
    ],
)
def test_iso_times_without_a_zone_are_utc_and_all_come_back_in_utc(
    text: str, moment: datetime
) -> None:
    parsed = parse_when(text, now=NOW)
    assert parsed == moment
    assert parsed.tzinfo is UTC


def test_now_given_in_another_zone_still_yields_utc() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert parse_when("1h", now=local) == datetime(2026, 11, 5, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "12:00pm", "7 days"])
def test_invalid_times_name_the_text_and_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid time .*ISO-8601.*7d"):
        parse_when(text, now=NOW)
