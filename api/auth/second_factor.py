"""Second factors: enrolment (TOTP with a QR code, or SMS codes to a phone), switching, and the
check a login makes after the password.

Enrolling or switching leaves the new method pending until a code from it is proved; switching
also needs a code from the current method first, so a stolen session cannot quietly move the
second factor to the thief's phone. Confirming gives ten new recovery codes, shown once; the old
ones stop working."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api import crypto
from api.auth import repository, sms_codes, totp
from api.errors import BadRequest, Forbidden, NothingToCheck, ProofMissing
from api.models import SecondFactor

WRONG_CODE = "That code is not right, or was already used; try the current one"


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str  # for typing in by hand, when the camera cannot read the QR code
    uri: str
    qr_svg: str


async def method(session: AsyncSession, tenant_id: int, staff_id: int) -> str | None:
    """'totp', 'sms' or None (not enrolled)."""
    row = await repository.second_factor(session, tenant_id, staff_id)
    return row.method if row else None


async def _require_proof(session: AsyncSession, row: SecondFactor, proof: str | None) -> None:
    """Switching needs a code from the method in use (a recovery code will do)."""
    if row.method is None:
        return
    if not proof:
        raise ProofMissing("Enter a code from your current second factor first")
    if await verify(session, row.tenant_id, row.staff_id, proof) is None:
        raise Forbidden(WRONG_CODE)


async def start_totp(
    session: AsyncSession, tenant_id: int, staff_id: int, *, account: str, issuer: str,
    proof: str | None = None,
) -> TotpEnrolment:  # fmt: skip
    row = await repository.ensure_second_factor(session, tenant_id, staff_id)
    await _require_proof(session, row, proof)
    secret = totp.new_secret()
    row.pending_method, row.pending_secret_enc, row.pending_phone = (
        "totp",
        crypto.encrypt(secret),
        None,
    )
    await session.flush()
    uri = totp.provisioning_uri(secret, account, issuer)
    return TotpEnrolment(secret=secret, uri=uri, qr_svg=totp.qr_svg(uri))


async def start_sms(
    session: AsyncSession, tenant_id: int, staff_id: int, *, phone: str, proof: str | None = None
) -> str:
    """Returns the code to send to `phone` (E.164, checked by the caller's schema)."""
    row = await repository.ensure_second_factor(session, tenant_id, staff_id)
    await _require_proof(session, row, proof)
    row.pending_method, row.pending_secret_enc, row.pending_phone = "sms", None, phone
    await session.flush()
    return await sms_codes.issue(staff_id, "enrol")


async def confirm(session: AsyncSession, tenant_id: int, staff_id: int, code: str) -> list[str]:
    """Turns the pending method on if `code` proves it; returns the new recovery codes."""
    if not code.strip():
        raise NothingToCheck("Enter the code first")
    row = await repository.ensure_second_factor(session, tenant_id, staff_id)
    if row.pending_method == "totp" and row.pending_secret_enc:
        step = totp.accept(crypto.decrypt(row.pending_secret_enc), code, None)
        if step is None:
            raise BadRequest(WRONG_CODE)
        row.totp_secret_enc, row.totp_last_step, row.phone = row.pending_secret_enc, step, None
    elif row.pending_method == "sms" and row.pending_phone:
        if not await sms_codes.check(staff_id, "enrol", code):
            raise BadRequest(WRONG_CODE)
        row.phone, row.totp_secret_enc, row.totp_last_step = row.pending_phone, None, None
    else:
        raise NothingToCheck("There is nothing to confirm: start setting up a second factor first")
    row.method = row.pending_method
    row.pending_method = row.pending_secret_enc = row.pending_phone = None
    row.enabled_at = row.updated_at = datetime.now(UTC)
    codes = totp.new_recovery_codes()
    await repository.replace_recovery_codes(
        session, tenant_id, staff_id, [totp.recovery_hash(c) for c in codes]
    )
    await session.flush()
    return codes


async def send_login_code(session: AsyncSession, tenant_id: int, staff_id: int) -> tuple[str, str]:
    """(phone, code) for a login by SMS; the caller sends it."""
    row = await repository.second_factor(session, tenant_id, staff_id)
    if row is None or row.method != "sms" or not row.phone:
        raise BadRequest("This account does not use SMS codes")
    return row.phone, await sms_codes.issue(staff_id, "login")


async def verify(session: AsyncSession, tenant_id: int, staff_id: int, code: str) -> str | None:
    """How the code proved the person ('totp', 'sms' or 'recovery'), or None. Each code works
    once: a TOTP step is recorded, an SMS code burnt, a recovery code marked used."""
    row = await repository.second_factor(session, tenant_id, staff_id)
    if row is None or row.method is None:
        return None
    if any(ch.isalpha() for ch in code):  # recovery codes have letters; the others never do
        used = await repository.use_recovery_code(
            session, tenant_id, staff_id, totp.recovery_hash(code)
        )
        return "recovery" if used else None
    if row.method == "totp" and row.totp_secret_enc:
        step = totp.accept(crypto.decrypt(row.totp_secret_enc), code, row.totp_last_step)
        if step is not None and await repository.take_totp_step(session, tenant_id, staff_id, step):
            return "totp"
        return None
    if row.method == "sms" and await sms_codes.check(staff_id, "login", code):
        return "sms"
    return None


async def prove(session: AsyncSession, tenant_id: int, staff_id: int, proof: str | None) -> None:
    """403 unless `proof` is a valid code of the person's second factor (or a recovery code)."""
    row = await repository.ensure_second_factor(session, tenant_id, staff_id)
    if row.method is None:
        raise NothingToCheck("You have no second factor set up")
    await _require_proof(session, row, proof)


async def renew_recovery_codes(
    session: AsyncSession, tenant_id: int, staff_id: int, proof: str | None
) -> list[str]:
    """Ten new recovery codes for a proved person; the old ones stop working."""
    await prove(session, tenant_id, staff_id, proof)
    codes = totp.new_recovery_codes()
    await repository.replace_recovery_codes(
        session, tenant_id, staff_id, [totp.recovery_hash(c) for c in codes]
    )
    return codes


async def turn_off(session: AsyncSession, tenant_id: int, staff_id: int, proof: str | None) -> str:
    """Removes a proved person's second factor; returns the method it was."""
    row = await repository.ensure_second_factor(session, tenant_id, staff_id)
    was = row.method
    await prove(session, tenant_id, staff_id, proof)
    await repository.clear_second_factor(session, tenant_id, staff_id)
    await session.refresh(row)
    return was or ""


async def pending_totp(
    session: AsyncSession, tenant_id: int, staff_id: int, *, account: str, issuer: str
) -> TotpEnrolment | None:
    """The TOTP secret started and not yet confirmed, again (a page asking for its code once
    more after a wrong one); None when none is pending."""
    row = await repository.second_factor(session, tenant_id, staff_id)
    if row is None or row.pending_method != "totp" or not row.pending_secret_enc:
        return None
    secret = crypto.decrypt(row.pending_secret_enc)
    uri = totp.provisioning_uri(secret, account, issuer)
    return TotpEnrolment(secret=secret, uri=uri, qr_svg=totp.qr_svg(uri))
