"""TOTP codes and recovery codes (api.auth.totp): the rules a login relies on."""

from __future__ import annotations

import re
import urllib.parse

import pyotp

from api.auth import totp

NOW = 1_800_000_000.0  # a fixed instant; the step is NOW // 30


def _code(secret: str, at: float) -> str:
    return pyotp.TOTP(secret, interval=30).at(at)


def test_secret_has_160_bits_and_the_uri_names_the_account() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32 and secret != totp.new_secret()
    uri = totp.provisioning_uri(secret, "owner@demo", "mnetifi demo")
    assert uri.startswith("otpauth://totp/")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)
    assert query["secret"] == [secret] and query["issuer"] == ["mnetifi demo"]
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and "http" not in svg.replace("http://www.w3.org", "")


def test_the_current_code_and_its_neighbours_are_accepted_once() -> None:
    secret = totp.new_secret()
    step = int(NOW // 30)
    assert totp.accept(secret, _code(secret, NOW), None, NOW) == step
    # The same code again: refused (replay), however soon.
    assert totp.accept(secret, _code(secret, NOW), step, NOW) is None
    assert totp.accept(secret, _code(secret, NOW), step, NOW + 1) is None
    # The next step's code is later than the last one used: accepted.
    assert totp.accept(secret, _code(secret, NOW + 30), step, NOW + 30) == step + 1
    # A code from the step before, after a later one was used: refused.
    assert totp.accept(secret, _code(secret, NOW - 30), step, NOW) is None
    # Clock drift: a phone 30 s behind or ahead still works (when not replayed).
    assert totp.accept(secret, _code(secret, NOW - 30), None, NOW) == step - 1
    assert totp.accept(secret, _code(secret, NOW + 30), None, NOW) == step + 1


def test_old_wrong_and_malformed_codes_are_refused() -> None:
    secret = totp.new_secret()
    assert totp.accept(secret, _code(secret, NOW - 90), None, NOW) is None
    wrong = f"{(int(_code(secret, NOW)) + 1) % 1_000_000:06d}"
    if all(_code(secret, NOW + d * 30) != wrong for d in (-1, 0, 1)):
        assert totp.accept(secret, wrong, None, NOW) is None
    for bad in ("", "12345", "1234567", "abcdef", "12 34 5", "１２３４５６"):
        assert totp.accept(secret, bad, None, NOW) is None
    # Spaces a person types are fine.
    spaced = _code(secret, NOW)
    assert totp.accept(secret, f"{spaced[:3]} {spaced[3:]}", None, NOW) is not None


def test_it_follows_the_real_clock() -> None:
    secret = totp.new_secret()
    assert totp.accept(secret, pyotp.TOTP(secret).now(), None) is not None


def test_recovery_codes_are_ten_distinct_readable_codes() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[2-9A-HJ-NP-Z]{5}-[2-9A-HJ-NP-Z]{5}", c) for c in codes)
    hashes = {totp.recovery_hash(c) for c in codes}
    assert len(hashes) == 10 and not any(c in h for c in codes for h in hashes)
    # Typed in lower case, without the dash or with spaces: the same code.
    c = codes[0]
    assert totp.recovery_hash(c.lower().replace("-", " ")) == totp.recovery_hash(c)
    assert totp.recovery_hash(codes[1]) != totp.recovery_hash(c)
