"""Second factors that need no network: TOTP (RFC 6238, an authenticator app) and recovery codes.

TOTP secrets are 160 random bits, stored encrypted (api.crypto) like every other secret. A code
is accepted for its own 30-second step and the one either side (clock drift), and only for a
step later than the last one this person used: a code seen over a shoulder, or replayed from a
log, is refused even within its 30 seconds.

Recovery codes are ten single-use codes shown once at enrolment. They carry ~50 random bits
each, so a keyed hash (HMAC-SHA256 under the server's secret key) is enough to store them; a
slow password hash would buy nothing and cost a login its speed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp
import segno

from api.config import get_settings

STEP = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
# No 0/O, 1/I/L: read off paper and typed on a phone.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_RECOVERY_GROUPS = (5, 5)


def new_secret() -> str:
    return pyotp.random_base32(length=32)  # 32 base32 characters = 160 bits


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """What the enrolment QR code holds (otpauth://totp/...)."""
    return pyotp.TOTP(secret, interval=STEP).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG (no request to any outside service)."""
    return segno.make(uri, error="m").svg_inline(scale=4, border=2)  # type: ignore[no-any-return]


def accept(secret: str, code: str, last_step: int | None, now: float | None = None) -> int | None:
    """The step `code` belongs to if it is valid now and later than `last_step`; else None.
    The caller stores the returned step as the new `last_step` in the same transaction as
    the login it allows, so two requests with one code cannot both pass (compare-and-set on
    the stored step)."""
    digits = "".join(ch for ch in code if not ch.isspace())
    if len(digits) != 6 or not (digits.isascii() and digits.isdigit()):
        return None
    totp = pyotp.TOTP(secret, interval=STEP)
    current = int((time.time() if now is None else now) // STEP)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step if last_step is None or step > last_step else None
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes like `7KQ2M-XW9HD`, to show once."""
    return [
        "-".join("".join(secrets.choice(_ALPHABET) for _ in range(n)) for n in _RECOVERY_GROUPS)
        for _ in range(RECOVERY_CODES)
    ]


def normalize_recovery_code(code: str) -> str:
    """What was typed, as hashed: upper case, without spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def recovery_hash(code: str) -> str:
    key = get_settings().secret_key.get_secret_value().encode()
    message = b"recovery-code\0" + normalize_recovery_code(code).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
