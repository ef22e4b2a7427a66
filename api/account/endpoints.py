"""HTTP routes for a person's own account (`/api/v1/me`): their second factor, password and
sessions. Only people (never API tokens); the second-factor routes also serve a login whose ISP
requires a second factor before anything else. A change to how the person signs in answers with
the session's new id (also set in the cookie): the old id stops working."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from api import staff_sessions
from api.account import service
from api.account.schemas import (
    ConfirmIn,
    ConfirmOut,
    PasswordIn,
    ProofIn,
    ProofRequiredIn,
    RecoveryCodesOut,
    SecondFactorOut,
    SessionOut,
    SmsStartIn,
    SmsStartOut,
    TotpStartOut,
)
from api.auth.endpoints import set_session_cookie
from api.auth.schemas import TokenOut
from api.deps import ClientMeta, SessionDep
from api.tenancy import Principal, presented_session, require_person

router = APIRouter(prefix="/api/v1/me", tags=["my account"])

Person = Annotated[Principal, Depends(require_person())]
Enrolling = Annotated[Principal, Depends(require_person(enrolling=True))]
SessionKey = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="From GET /me/sessions")]


def _session_id(request: Request) -> str:
    sid, _ = presented_session(request)
    assert sid is not None  # require_person() has just loaded it
    return sid


@router.get("/second-factor", response_model=SecondFactorOut)
async def second_factor(principal: Enrolling, session: SessionDep) -> SecondFactorOut:
    return await service.second_factor_status(session, principal)


@router.post("/second-factor/totp", response_model=TotpStartOut)
async def start_totp(body: ProofIn, principal: Enrolling, meta: ClientMeta) -> TotpStartOut:
    """A new authenticator-app secret and its QR code; on once a code from it is confirmed."""
    return await service.start_totp(principal, body.proof, meta)


@router.post("/second-factor/sms", response_model=SmsStartOut, status_code=202)
async def start_sms(body: SmsStartIn, principal: Enrolling, meta: ClientMeta) -> SmsStartOut:
    """Sends a code to the phone; SMS codes are on once it is confirmed."""
    return await service.start_sms(principal, body.phone, body.proof, meta)


@router.post("/second-factor/confirm", response_model=ConfirmOut)
async def confirm(
    body: ConfirmIn, principal: Enrolling, request: Request, response: Response, meta: ClientMeta
) -> ConfirmOut:
    """Turns the new second factor on; answers with ten recovery codes, shown only now."""
    out = await service.confirm(principal, _session_id(request), body.code, meta)
    set_session_cookie(response, out)
    return out


@router.post("/second-factor/recovery-codes", response_model=RecoveryCodesOut)
async def renew_recovery_codes(
    body: ProofRequiredIn, principal: Person, meta: ClientMeta
) -> RecoveryCodesOut:
    """Ten new recovery codes; the old ones stop working."""
    return RecoveryCodesOut(
        recovery_codes=await service.renew_recovery_codes(principal, body.proof, meta)
    )


@router.post("/second-factor/disable", response_model=TokenOut)
async def disable(
    body: ProofRequiredIn, principal: Person, request: Request, response: Response,
    meta: ClientMeta,
) -> TokenOut:  # fmt: skip
    """Turns the second factor off (not when the ISP requires one)."""
    out = await service.turn_off(principal, _session_id(request), body.proof, meta)
    set_session_cookie(response, out)
    return out


@router.post("/password", response_model=TokenOut)
async def change_password(
    body: PasswordIn, principal: Person, request: Request, response: Response, meta: ClientMeta
) -> TokenOut:
    """A new password; every other session of yours ends."""
    out = await service.change_password(
        principal, _session_id(request), body.current_password, body.new_password, meta
    )
    set_session_cookie(response, out)
    return out


@router.get("/sessions", response_model=list[SessionOut])
async def sessions(principal: Person, request: Request) -> list[SessionOut]:
    """Where you are signed in: device, address and last use, most recent first."""
    return await service.sessions(principal, staff_sessions.key_of(_session_id(request)))


@router.delete("/sessions/{session_key}", status_code=204)
async def end_session(
    session_key: SessionKey, principal: Person, session: SessionDep, meta: ClientMeta
) -> Response:
    """Signs that session out at once."""
    await service.end_session(session, principal, session_key, meta)
    return Response(status_code=204)
