"""Test data, one keyword-only factory each, built through the services in their own unit of
work (so they are committed and visible to requests)."""

from __future__ import annotations

import asyncio
import email
import ipaddress
import os
import random
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any

import httpx
import pyotp
from sqlalchemy import func, select, text

from api.config import get_settings
from api.db import unit_of_work
from api.models import Plan, Router, StaffUser, Tenant, Voucher
from api.payments import grants
from api.plans import service as plans_service
from api.plans.schemas import PlanCreate
from api.platform import second_factor as operator_factor
from api.platform import service as platform_service
from api.routers import service as routers_service
from api.routers.schemas import RouterCreate
from api.staff import service as staff_service
from api.subscribers import secrets as passwords
from api.tenancy import Principal
from api.tenants import repository as tenants_repository
from api.vouchers import service as vouchers_service
from api.vouchers.schemas import BatchCreate

PASSWORD = "correct horse battery staple"


def random_slug() -> str:
    return "t" + secrets.token_hex(6)


def random_ip(*, v6: bool = False) -> str:
    """Router addresses for API tests: 10.0.0.0/8 or 2001:db8::/32, never loopback (the RADIUS
    tests own 127.0.0.0/8)."""
    if v6:
        return str(ipaddress.IPv6Address(0x20010DB8 << 96 | random.getrandbits(96)))
    return str(ipaddress.IPv4Address((10 << 24) | random.randrange(1, 2**24 - 1)))


async def make_tenant(*, slug: str | None = None, name: str = "Test ISP") -> Tenant:
    async with unit_of_work() as session:
        return await tenants_repository.insert(session, slug=slug or random_slug(), name=name)


async def make_staff(
    *, tenant: Tenant, role: str = "owner", email: str | None = None, password: str = PASSWORD
) -> StaffUser:
    async with unit_of_work() as session:
        return await staff_service.create_staff(
            session,
            Principal.cli(tenant.id),
            email=email or f"{secrets.token_hex(4)}@example.com",
            password=password,
            role=role,
        )


@dataclass(frozen=True)
class OperatorAccount:
    id: int
    email: str
    secret: str  # the authenticator's TOTP secret
    recovery_codes: list[str]


async def make_operator(*, enrolled: bool = True) -> OperatorAccount:
    """A platform operator with PASSWORD and (unless `enrolled` is False) TOTP on."""
    email = f"op-{secrets.token_hex(4)}@example.com"
    async with unit_of_work() as session:
        operator = await platform_service.create_operator(session, email=email, password=PASSWORD)
    if not enrolled:
        return OperatorAccount(operator.id, email, "", [])
    async with unit_of_work() as session:
        enrolment = await operator_factor.start(session, operator.id, email, None)
    async with unit_of_work() as session:
        # The step before the current one: a login right after may use the current code.
        step_code = pyotp.TOTP(enrolment.secret).at(time.time() - 30)
        codes = await operator_factor.confirm(session, operator.id, step_code)
    return OperatorAccount(operator.id, email, enrolment.secret, codes)


async def operator_headers(client: httpx.AsyncClient, operator: OperatorAccount) -> dict[str, str]:
    """A fresh signed-in session of the operator: the password, then a code (a recovery code:
    a TOTP step works once, and callers sign in many times within one step)."""
    body = {"email": operator.email, "password": PASSWORD}
    first = await client.post("/api/v1/platform/login", json=body)
    assert first.status_code == 200 and first.json()["stage"] == "second_factor", first.text
    code = operator.recovery_codes.pop()
    second = await client.post(
        "/api/v1/platform/second-factor",
        json={"code": code},
        headers={"Authorization": f"Bearer {first.json()['access_token']}"},
    )
    assert second.status_code == 200, second.text
    return {"Authorization": f"Bearer {second.json()['access_token']}"}


async def make_router(*, tenant: Tenant, **overrides: Any) -> Router:
    values = {"name": "r-" + secrets.token_hex(4), "ip_address": random_ip()} | overrides
    async with unit_of_work() as session:
        return await routers_service.create_router(
            session, Principal.cli(tenant.id), RouterCreate(**values)
        )


async def make_plan(*, tenant: Tenant, **overrides: Any) -> Plan:
    values = {
        "name": "p-" + secrets.token_hex(4),
        "price": 10,
        "duration_seconds": 3600,
        "upload_kbps": 2000,
        "download_kbps": 4000,
    } | overrides
    async with unit_of_work() as session:
        return await plans_service.create_plan(
            session, Principal.cli(tenant.id), PlanCreate(**values)
        )


async def login(
    client: httpx.AsyncClient, *, tenant: Tenant, staff: StaffUser, password: str = PASSWORD
) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": staff.email, "password": password, "tenant": tenant.slug},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def make_user_headers(
    client: httpx.AsyncClient, *, tenant: Tenant | None = None, role: str = "owner"
) -> tuple[Tenant, dict[str, str]]:
    """A tenant (new unless given) and auth headers of a fresh staff user with `role`."""
    tenant = tenant or await make_tenant()
    staff = await make_staff(tenant=tenant, role=role)
    return tenant, await login(client, tenant=tenant, staff=staff)


async def count(model: type, **where: Any) -> int:
    async with unit_of_work() as session:
        stmt = select(func.count()).select_from(model)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        return int(await session.scalar(stmt) or 0)


async def make_voucher(*, plan: Plan, device_limit: int | None = None) -> Voucher:
    """One voucher of `plan`, issued through the same service as the API (the real snapshot)."""
    actor = Principal.cli(plan.tenant_id)
    async with unit_of_work() as session:
        batch = await vouchers_service.generate_batch(
            session, actor, BatchCreate(plan_id=plan.id, count=1, device_limit=device_limit)
        )
        return await vouchers_service.get_voucher(session, actor, batch.codes[0])


async def radius_login(*, voucher: Voucher, router: Router, mac: str = "AA:BB:CC:DD:EE:01") -> None:
    """What FreeRADIUS does after an Access-Accept: radius_post_auth() records the device and
    starts the voucher's clock on first use (the SQL the site calls, with its arguments)."""
    async with unit_of_work() as session:
        first_used = await session.scalar(
            select(Voucher.first_used_at).where(Voucher.id == voucher.id)
        )
        await session.execute(
            text(
                "SELECT radius_post_auth(:tenant, :voucher, :activate, :code, 'Access-Accept', "
                "'', :mac, 'hotspot1', :nas, '', :router, '1')"
            ),
            {
                "tenant": str(voucher.tenant_id),
                "voucher": str(voucher.id),
                "activate": "1" if first_used is None else "0",
                "code": voucher.code,
                "mac": mac,
                "nas": str(router.ip_address),
                "router": str(router.id),
            },
        )


async def accounting(
    *,
    kind: str,
    tenant_id: int,
    nas: str,
    username: str,
    unique: str,
    at: datetime | None = None,
    session_time: int | None = None,
    bytes_in: int = 0,
    bytes_out: int = 0,
    mac: str = "AA:BB:CC:DD:EE:01",
    cause: str = "",
) -> None:
    """One accounting packet (start, interim-update, stop) through radius_accounting(), the SQL
    FreeRADIUS calls; `at` is the packet's Event-Timestamp (now if omitted)."""
    at = at or datetime.now(UTC)
    async with unit_of_work() as session:
        await session.execute(
            text(
                "SELECT radius_accounting(:kind, :tenant, :nas, :unique, :unique, :username, "
                ":ts, :stime, :bytes_in, :bytes_out, :mac, 'hotspot1', :cause, '', "
                "'10.5.50.10', 'bridge-hotspot', 'Wireless-802.11', 'Login-User', '', "
                "'RADIUS', '')"
            ),
            {
                "kind": kind,
                "tenant": str(tenant_id),
                "nas": nas,
                "unique": unique,
                "username": username,
                "ts": str(int(at.timestamp())),
                "stime": "" if session_time is None else str(session_time),
                "bytes_in": bytes_in,
                "bytes_out": bytes_out,
                "mac": mac,
                "cause": cause,
            },
        )


MAILBOX = Path(os.environ.get("MNETIFI_RUN_DIR", ".run/test")) / "mailbox"


async def received_mail(*markers: str) -> email.message.EmailMessage:
    """The latest message holding every marker that reached the stack's SMTP server
    (deploy/fakes/mailbox.py keeps each as a file)."""
    for _ in range(50):
        for path in sorted(MAILBOX.glob("*.eml"), reverse=True):
            raw = path.read_bytes()
            if all(m.encode() in raw for m in markers):
                return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no message with {markers} in {MAILBOX}")


def link_token(text: str, page: str) -> str:
    """The one-time token of a /admin/<page>#token=... link in a message."""
    found = re.search(rf"/admin/{page}#token=([A-Za-z0-9_-]+)", text)
    assert found, f"no /admin/{page} link in {text!r}"
    return found.group(1)


async def mailed_token(to: str, page: str) -> str:
    message = await received_mail(to, f"/admin/{page}#")
    body = message.get_body(("plain",))
    assert body is not None
    return link_token(body.get_content(), page)


async def texts_to(phone: str) -> list[str]:
    """What the fake Africa's Talking was asked to send to `phone`, oldest first."""
    async with httpx.AsyncClient(timeout=10) as http:
        url = get_settings().at_url.rstrip("/") + "/__fake__/messages"
        return [m["message"] for m in (await http.get(url, params={"to": phone})).json()]


async def make_sale(*, plan: Plan, phone: str, receipt: str, extends: str | None = None) -> str:
    """A granted C2B payment of `plan`'s price from `phone` with M-Pesa `receipt`, through the
    grant the money path writes: a new voucher sold to that phone, or an extension of the
    voucher coded `extends`. Returns the voucher's code."""
    async with unit_of_work() as session:
        payment_id = await session.scalar(
            text(
                "INSERT INTO payment (tenant_id, source, receipt, amount, phone, paid_at, status) "
                "VALUES (:t, 'c2b', :receipt, :amount, :phone, now(), 'granted') RETURNING id"
            ),
            {"t": plan.tenant_id, "receipt": receipt, "amount": plan.price, "phone": phone},
        )
        terms = (
            (await session.execute(text("SELECT * FROM plan WHERE id = :p"), {"p": plan.id}))
            .mappings()
            .one()
        )
        extend = None
        if extends is not None:
            extend = await grants.live_voucher(session, plan.tenant_id, code=extends)
            assert extend is not None, f"{extends} is not live"
        done = await grants.grant(
            session, payment_id=payment_id, amount=plan.price, plan=terms, extend=extend,
            phone=phone,
        )  # fmt: skip
        return done.code


def padding_fails(blob: bytes, key: bytes) -> bool:
    """Whether `blob` decrypted under `key` fails its padding, as it does for 255 wrong keys in
    256: then pgcrypto says "Decryption failed", not (by chance) "invalid byte sequence"
    or some garbage text. Tests of a wrong key pick one for which it does."""
    try:
        passwords.decrypt(blob, with_key=key)
    except UnicodeDecodeError:
        return False
    except ValueError:
        return True
    return False
