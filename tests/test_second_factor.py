"""Second factors (api.auth.second_factor) on the real database and Redis: TOTP enrolment with a
code before it is on, logins with TOTP where a replayed code is refused, recovery codes that work
once, switching only after proving the current factor, and SMS codes that expire, work once and
are sent at most three times in 15 minutes."""

from __future__ import annotations

import asyncio
import time

import pyotp
import pytest

from api.auth import second_factor, sms_codes, totp
from api.db import unit_of_work
from api.errors import BadRequest, Forbidden, TooManyRequests
from api.models import SecondFactor
from tests.factories import make_staff, make_tenant


async def _person() -> tuple[int, int]:
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    return tenant.id, staff.id


async def _enrol_totp(tenant_id: int, staff_id: int) -> tuple[str, list[str]]:
    async with unit_of_work() as s:
        enrolment = await second_factor.start_totp(
            s, tenant_id, staff_id, account="owner@demo", issuer="Demo ISP"
        )
    async with unit_of_work() as s:
        codes = await second_factor.confirm(
            s, tenant_id, staff_id, pyotp.TOTP(enrolment.secret).now()
        )
    return enrolment.secret, codes


def _next_code(secret: str) -> str:
    """The code of the step after the current one (still accepted: clock drift), so it is later
    than the step the enrolment used."""
    return pyotp.TOTP(secret).at(time.time() + 30)


async def _verify(tenant_id: int, staff_id: int, code: str) -> str | None:
    async with unit_of_work() as s:
        return await second_factor.verify(s, tenant_id, staff_id, code)


async def test_totp_is_on_only_after_a_valid_code_and_its_secret_is_encrypted() -> None:
    tenant_id, staff_id = await _person()
    async with unit_of_work() as s:
        enrolment = await second_factor.start_totp(
            s, tenant_id, staff_id, account="owner@demo", issuer="Demo ISP"
        )
        assert enrolment.qr_svg.startswith("<svg") and enrolment.secret in enrolment.uri
    async with unit_of_work() as s:
        assert await second_factor.method(s, tenant_id, staff_id) is None
        with pytest.raises(BadRequest):
            await second_factor.confirm(s, tenant_id, staff_id, "000000")
    async with unit_of_work() as s:
        assert await second_factor.method(s, tenant_id, staff_id) is None
        codes = await second_factor.confirm(
            s, tenant_id, staff_id, pyotp.TOTP(enrolment.secret).now()
        )
    assert len(codes) == 10
    async with unit_of_work() as s:
        row = await s.get(SecondFactor, staff_id)
        assert row is not None and row.method == "totp" and row.pending_method is None
        assert row.totp_secret_enc and enrolment.secret not in row.totp_secret_enc


async def test_a_totp_code_logs_in_once_and_its_replay_is_refused() -> None:
    tenant_id, staff_id = await _person()
    secret, _ = await _enrol_totp(tenant_id, staff_id)
    # The enrolment's own code was used: the next step's code is the next valid one.
    later = _next_code(secret)
    assert await _verify(tenant_id, staff_id, later) == "totp"
    assert await _verify(tenant_id, staff_id, later) is None  # replayed


async def test_two_logins_racing_with_one_code_let_one_in() -> None:
    tenant_id, staff_id = await _person()
    secret, _ = await _enrol_totp(tenant_id, staff_id)
    code = _next_code(secret)
    results = await asyncio.gather(*(_verify(tenant_id, staff_id, code) for _ in range(8)))
    assert results.count("totp") == 1 and results.count(None) == 7


async def test_a_recovery_code_works_once_and_a_new_enrolment_retires_the_old_ones() -> None:
    tenant_id, staff_id = await _person()
    _, codes = await _enrol_totp(tenant_id, staff_id)
    assert await _verify(tenant_id, staff_id, codes[0].lower()) == "recovery"
    assert await _verify(tenant_id, staff_id, codes[0]) is None
    assert await _verify(tenant_id, staff_id, "ZZZZZ-ZZZZZ") is None
    # Switching to a new authenticator needs proof; a recovery code is proof.
    async with unit_of_work() as s:
        with pytest.raises(Forbidden):
            await second_factor.start_totp(s, tenant_id, staff_id, account="a", issuer="b")
    async with unit_of_work() as s:
        with pytest.raises(Forbidden):
            await second_factor.start_totp(
                s, tenant_id, staff_id, account="a", issuer="b", proof="123456"
            )
    async with unit_of_work() as s:
        enrolment = await second_factor.start_totp(
            s, tenant_id, staff_id, account="a", issuer="b", proof=codes[1]
        )
    async with unit_of_work() as s:
        fresh = await second_factor.confirm(
            s, tenant_id, staff_id, pyotp.TOTP(enrolment.secret).now()
        )
    assert await _verify(tenant_id, staff_id, codes[2]) is None  # the old set is gone
    assert await _verify(tenant_id, staff_id, fresh[0]) == "recovery"


async def test_sms_codes_work_once_and_are_sent_at_most_three_times() -> None:
    tenant_id, staff_id = await _person()
    async with unit_of_work() as s:
        code = await second_factor.start_sms(s, tenant_id, staff_id, phone="+254712345678")
    assert len(code) == 6 and code.isdigit()
    async with unit_of_work() as s:
        with pytest.raises(BadRequest):
            await second_factor.confirm(s, tenant_id, staff_id, f"{(int(code) + 1) % 10**6:06d}")
    async with unit_of_work() as s:
        await second_factor.confirm(s, tenant_id, staff_id, code)
        assert await second_factor.method(s, tenant_id, staff_id) == "sms"
    async with unit_of_work() as s:
        phone, login_code = await second_factor.send_login_code(s, tenant_id, staff_id)
    assert phone == "+254712345678"
    assert await _verify(tenant_id, staff_id, login_code) == "sms"
    assert await _verify(tenant_id, staff_id, login_code) is None  # used
    # Three sends in 15 minutes (the enrolment's was the first): the fourth is refused.
    async with unit_of_work() as s:
        await second_factor.send_login_code(s, tenant_id, staff_id)
    async with unit_of_work() as s:
        with pytest.raises(TooManyRequests):
            await second_factor.send_login_code(s, tenant_id, staff_id)


async def test_an_sms_code_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sms_codes, "TTL_SECONDS", 1)
    staff_id = 986_000_000 + int(time.time()) % 100_000
    code = await sms_codes.issue(staff_id, "login")
    await asyncio.sleep(1.3)
    assert not await sms_codes.check(staff_id, "login", code)


async def test_a_new_sms_code_replaces_the_last_one() -> None:
    staff_id = 987_000_000 + int(time.time()) % 100_000
    first = await sms_codes.issue(staff_id, "login")
    second = await sms_codes.issue(staff_id, "login")
    if first != second:  # one in a million they are equal
        assert not await sms_codes.check(staff_id, "login", first)
    assert await sms_codes.check(staff_id, "login", second)


async def test_codes_of_the_wrong_shape_are_simply_wrong() -> None:
    tenant_id, staff_id = await _person()
    await _enrol_totp(tenant_id, staff_id)
    for bad in ("", "1", "12345", "1234567", "１２３４５６", "12345\x00", "x" * 500):
        assert await _verify(tenant_id, staff_id, bad) is None
    assert totp.accept(totp.new_secret(), "abcdef", None) is None
