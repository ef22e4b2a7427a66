"""The password rule for staff: at least 10 characters, at most 200 (argon2 hashes whatever it
is given; a megabyte "password" is CPU, not security), not a common password nor a common one
dressed up with digits and symbols (`Password2024!`), and not the person's own e-mail name or
their ISP's name. One sentence says what to fix."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 200
_LIST = Path(__file__).with_name("common_passwords.txt")
# Digits, symbols and spaces people put around a word to satisfy a rule.
_AFFIXES = re.compile(r"^[\W\d_]+|[\W\d_]+$")
# Letters people swap for look-alike symbols.
_LEET = str.maketrans("@431!0$5", "aaeiioss")


@lru_cache
def common() -> frozenset[str]:
    lines = _LIST.read_text().splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _bases(password: str) -> set[str]:
    """The word inside: as typed, without the affixes, and with look-alikes read as letters."""
    lowered = password.lower()
    bases = {lowered, _AFFIXES.sub("", lowered), lowered.translate(_LEET)}
    bases.add(_AFFIXES.sub("", lowered.translate(_LEET)))
    return {b for b in bases if b}


def problem(password: str, email: str = "", isp: str = "") -> str | None:
    """None if the password may be used, else the sentence to show."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters"
    if len(set(password)) < 4:
        return "Use more different characters"
    bases = _bases(password)
    if bases & common():
        return "This password is too common; choose one nobody else would"
    own = {email.split("@")[0].lower(), isp.lower()} - {""}
    if any(len(word) >= 4 and any(word in base for base in bases) for word in own):
        return "Do not build the password from your e-mail or your ISP's name"
    if all(len(b) < 4 for b in {_AFFIXES.sub("", password.lower())}):
        return "Use a password with words or letters in it, not only digits and symbols"
    return None
