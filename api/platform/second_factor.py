"""Platform operators' second factor: TOTP, always. An operator sees every ISP's record, so a
password alone never signs one in: a login owes a code, and an operator without TOTP may do
nothing but set it up (its QR code made here; on only once a code from it is proved, with ten
recovery codes shown once). Replacing it needs a code of the current one. Each code works
once: a TOTP step is taken by a guarded UPDATE, a recovery code is marked used."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api import crypto
from api.auth import totp
from api.auth.second_factor import WRONG_CODE, TotpEnrolment
from api.errors import BadRequest, Forbidden, NothingToCheck, ProofMissing
from api.platform import repository

ISSUER = "mnetifi platform"


async def start(
    session: AsyncSession, operator_id: int, email: str, proof: str | None
) -> TotpEnrolment:
    operator = await repository.get(session, operator_id, lock=True)
    if operator.totp_secret_enc is not None:
        if not proof:
            raise ProofMissing("Enter a code from your current authenticator first")
        if await verify(session, operator_id, proof) is None:
            raise Forbidden(WRONG_CODE)
    secret = totp.new_secret()
    operator.pending_secret_enc = crypto.encrypt(secret)
    await session.flush()
    uri = totp.provisioning_uri(secret, email, ISSUER)
    return TotpEnrolment(secret=secret, uri=uri, qr_svg=totp.qr_svg(uri))


async def confirm(session: AsyncSession, operator_id: int, code: str) -> list[str]:
    """Turns the pending secret on if `code` proves it; returns the new recovery codes."""
    if not code.strip():
        raise NothingToCheck("Enter the code first")
    operator = await repository.get(session, operator_id, lock=True)
    if operator.pending_secret_enc is None:
        raise NothingToCheck(
            "There is nothing to confirm: start setting up the authenticator first"
        )
    step = totp.accept(crypto.decrypt(operator.pending_secret_enc), code, None)
    if step is None:
        raise BadRequest(WRONG_CODE)
    operator.totp_secret_enc, operator.totp_last_step = operator.pending_secret_enc, step
    operator.pending_secret_enc = None
    operator.totp_enabled_at = datetime.now(UTC)
    codes = totp.new_recovery_codes()
    await repository.replace_recovery_codes(
        session, operator_id, [totp.recovery_hash(c) for c in codes]
    )
    await session.flush()
    return codes


async def verify(session: AsyncSession, operator_id: int, code: str) -> str | None:
    """'totp' or 'recovery' if the code proves the operator (each code once), else None."""
    operator = await repository.get(session, operator_id)
    if operator.totp_secret_enc is None:
        return None
    if any(ch.isalpha() for ch in code):
        used = await repository.use_recovery_code(session, operator_id, totp.recovery_hash(code))
        return "recovery" if used else None
    step = totp.accept(crypto.decrypt(operator.totp_secret_enc), code, operator.totp_last_step)
    if step is not None and await repository.take_totp_step(session, operator_id, step):
        return "totp"
    return None
