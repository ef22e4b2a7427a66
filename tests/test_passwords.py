"""The staff password rule (api.passwords)."""

from __future__ import annotations

import pytest

from api import passwords


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short1!", "at least 10"),
        ("x" * 201, "at most 200"),
        ("aaaaaaaaaaaa", "different characters"),
        ("1234567890", "too common"),
        ("password123", "too common"),
        ("Password2024!", "too common"),
        ("P@ssw0rd2026", "too common"),
        ("!!football99!!", "too common"),
        ("Safaricom2025", "too common"),
        ("mikrotik12345", "too common"),
        ("Qwertyuiop", "too common"),
        ("wanjiku.k2026", "e-mail"),
        ("demonet-2026-x", "ISP"),
        ("20261234567890!", "only digits"),
        ("9183-7364-5512", "only digits"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, why: str) -> None:
    problem = passwords.problem(password, email="wanjiku.k@example.com", isp="demonet")
    assert problem is not None and why.lower() in problem.lower()


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "Mvua-ya-Novemba-7", "tq8#Lw2!zR4m", "Kitenge Blue Umbrella"],
)
def test_good_passwords_pass(password: str) -> None:
    assert passwords.problem(password, email="wanjiku.k@example.com", isp="demonet") is None


def test_the_shipped_list_is_loaded() -> None:
    assert len(passwords.common()) > 30_000
    assert {"password", "dragon", "safaricom"} <= passwords.common()
    assert not any(p.startswith("#") for p in passwords.common())


async def test_staff_and_operators_cannot_be_given_a_weak_password() -> None:
    from api.db import unit_of_work
    from api.errors import BadRequest
    from api.platform import service as platform_service
    from tests.factories import make_staff, make_tenant

    tenant = await make_tenant()
    for weak in ("Password2024!", "short", "x" * 12):
        with pytest.raises(BadRequest):
            await make_staff(tenant=tenant, password=weak)
        with pytest.raises(BadRequest):
            async with unit_of_work() as session:
                await platform_service.create_operator(
                    session, email="op-weak@example.com", password=weak
                )
    assert await make_staff(tenant=tenant, password="Mvua ya Novemba 7")
