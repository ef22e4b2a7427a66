"""Rate-limit strings and the units the CLI accepts."""

from __future__ import annotations

import pytest

from api.plans.units import parse_duration, parse_rate, parse_size, rate_limit_string


@pytest.mark.parametrize(
    "up,down,expected",
    [(2000, 4000, "2M/4M"), (512, 1500, "512k/1500k"), (1000, 2500, "1M/2500k")],
)
def test_rate_limit_string_is_upload_slash_download(up, down, expected):
    assert rate_limit_string(up, down) == expected


def test_parsers():
    assert [parse_duration(s) for s in ("90", "30m", "1h", "1d", "1w")] == [
        90, 1800, 3600, 86400, 604800,
    ]  # fmt: skip
    assert [parse_rate(s) for s in ("512k", "2M", "1.5M", "1G")] == [512, 2000, 1500, 1_000_000]
    assert parse_size("1GB") == 10**9
    assert parse_size("500MB") == 500 * 10**6
    assert parse_size("1GiB") == 2**30
    for bad in ("", "1y", "-1h", "0m", "abc"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    with pytest.raises(ValueError):
        parse_rate("0.5k")
