"""`mnetifi`: operator commands. They call the same services as the API, one unit of work per
command, audited as actor "cli". Output is printed only after the commit succeeded."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, crypto, rotation
from api.config import get_settings
from api.db import get_engine, unit_of_work
from api.deps import INT32_MAX
from api.errors import AppError
from api.messaging import service as messaging_service
from api.messaging.schemas import EmailSettingsIn
from api.models import Router
from api.payments import ledger
from api.payments import service as payments_service
from api.payments.schemas import PaymentSettingsIn
from api.permissions import ISP_ROLES
from api.plans import service as plans_service
from api.plans.schemas import PlanCreate
from api.plans.units import parse_duration, parse_rate, parse_size
from api.platform import service as platform_service
from api.routers import service as routers_service
from api.routers.schemas import RouterCreate, RouterOut, RouterUpdate
from api.sessions import control as session_control
from api.sessions import service as sessions_service
from api.sessions.schemas import SessionFilter, SessionOut
from api.settings import service as settings_service
from api.settings.schemas import SettingsUpdate
from api.sms import service as sms_service
from api.sms.schemas import SmsSettingsIn
from api.staff import service as staff_service
from api.tenancy import Principal
from api.tenants import service as tenants_service
from api.tenants.schemas import TenantCreate
from api.vouchers import service as vouchers_service
from api.vouchers.schemas import BatchCreate, VoucherDetail, VoucherFilter
from api.whatsapp import service as whatsapp_service
from api.whatsapp.schemas import WhatsappSettingsIn

Command = Callable[[AsyncSession, argparse.Namespace], Awaitable[list[str]]]


async def _principal(session: AsyncSession, slug: str) -> Principal:
    tenant = await tenants_service.get_tenant(session, slug)
    return Principal.cli(tenant.id)


async def tenant_create(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    password = args.admin_password or os.environ.get("MNETIFI_ADMIN_PASSWORD")
    if not password:
        password = getpass.getpass("Password for the owner account: ")
    data = TenantCreate(
        slug=args.slug, name=args.name, admin_email=args.admin_email, admin_password=password
    )
    tenant = await platform_service.create_isp(session, data)
    return [f"id: {tenant.id}", f"slug: {tenant.slug}", f"name: {tenant.name}"]


async def tenant_show(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    tenant = await tenants_service.get_tenant(session, args.slug)
    return [f"id: {tenant.id}", f"slug: {tenant.slug}", f"name: {tenant.name}"]


async def router_add(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    data = RouterCreate(
        name=args.name,
        ip_address=args.ip,
        secret=args.secret,
        coa_port=args.coa_port,
        nas_identifier=args.nas_identifier,
    )
    router = await routers_service.create_router(session, principal, data)
    return [f"id: {router.id}", f"secret: {router.secret}"]


ROUTER_COLUMNS = ("id", "name", "ip_address", "coa_port", "nas_identifier", "enabled", "created_at")


def _router_id(value: str) -> int:
    """A router id as typed; a bad one is a sentence and exit 1 (argparse would exit 2)."""
    if not value.isdigit() or not 1 <= int(value) <= INT32_MAX:
        raise ValueError(f"a router id is a whole number from 1 to {INT32_MAX}, not {value!r}")
    return int(value)


def _router_values(router: Router) -> list[str]:
    out = RouterOut.model_validate(router)
    return [_fmt("yes" if v is True else "no" if v is False else v) for v in
            (getattr(out, c) for c in ROUTER_COLUMNS)]  # fmt: skip


async def router_list(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    routers = await routers_service.list_routers(session, principal)
    return ["\t".join(ROUTER_COLUMNS), *("\t".join(_router_values(r)) for r in routers)]


async def router_show(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    router = await routers_service.get_router(session, principal, _router_id(args.router_id))
    lines = [f"{c}: {v}" for c, v in zip(ROUTER_COLUMNS, _router_values(router), strict=True)]
    if args.show_secret:
        lines += [
            f"secret: {router.secret}",
            "note: that is the router's RADIUS shared secret (whoever has it can pose as this "
            "router); keep it off shared screens, tickets and logs",
        ]
    return lines


async def router_edit(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    """The fields of PATCH /api/v1/routers/{id}, validated by the same schema."""
    principal = await _principal(session, args.tenant)
    given = {
        "name": args.name,
        "ip_address": args.ip,
        "secret": args.secret,
        "coa_port": args.coa_port,
        "nas_identifier": args.nas_identifier,
        "enabled": args.enabled,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    if args.no_nas_identifier:
        changes["nas_identifier"] = None
    if not changes:
        raise ValueError(
            "nothing to change: give --name, --ip, --secret, --coa-port, --nas-identifier, "
            "--no-nas-identifier, --enable or --disable"
        )
    data = RouterUpdate.model_validate(changes)
    router, secret_changed = await routers_service.update_router(
        session, principal, _router_id(args.router_id), data
    )
    lines = [f"{c}: {v}" for c, v in zip(ROUTER_COLUMNS, _router_values(router), strict=True)]
    if secret_changed:
        lines.append("secret: changed (set the same one on the router now)")
    return lines


async def router_remove(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    router = await routers_service.get_router(session, principal, _router_id(args.router_id))
    label = f"router {router.id} ({router.name}, {RouterOut.model_validate(router).ip_address})"
    if not args.yes:
        raise ValueError(
            f"this removes {label} for good and logins through it stop; run again with --yes"
        )
    await routers_service.delete_router(session, principal, router.id)
    return [f"removed {label}"]


async def plan_add(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    data = PlanCreate(
        name=args.name,
        price=args.price,
        duration_seconds=parse_duration(args.duration),
        upload_kbps=parse_rate(args.up),
        download_kbps=parse_rate(args.down),
        device_limit=args.devices,
        data_quota_bytes=parse_size(args.data) if args.data else None,
        time_quota_seconds=parse_duration(args.time) if args.time else None,
        mac_binding=args.mac_binding,
    )
    plan = await plans_service.create_plan(session, principal, data)
    return [f"id: {plan.id}", f"name: {plan.name}"]


async def vouchers_generate(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    plan = await plans_service.get_plan_by_name(session, principal, args.plan)
    data = BatchCreate(plan_id=plan.id, count=args.count, length=args.length)
    batch = await vouchers_service.generate_batch(session, principal, data)
    return batch.codes


async def vouchers_list(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    plan_id = None
    if args.plan:
        plan_id = (await plans_service.get_plan_by_name(session, principal, args.plan)).id
    query = VoucherFilter(status=args.status, plan_id=plan_id, limit=args.limit, offset=0)
    return [v.code for v in await vouchers_service.list_vouchers(session, principal, query)]


def _fmt(value: object) -> str:
    return "-" if value is None else str(value)


async def _voucher_lines(
    session: AsyncSession, principal: Principal, voucher: VoucherDetail
) -> list[str]:
    plan = await plans_service.get_plan(session, principal, voucher.plan_id)
    lines = [f"code: {voucher.code}", f"plan: {plan.name}"]
    lines += [
        f"{field}: {_fmt(getattr(voucher, field))}"
        for field in (
            "status", "state", "reason", "issued_at", "first_used_at", "expires_at",
            "usable_until", "revoked_at", "used_seconds", "seconds_left", "used_bytes",
            "bytes_left", "duration_seconds", "time_quota_seconds", "data_quota_bytes",
            "rate_limit", "device_limit", "mac_binding",
        )
    ]  # fmt: skip
    for device in voucher.devices:
        router = device.router.name if device.router else "-"
        lines.append(f"device: {device.mac} first seen {device.first_seen} at {router}")
    return lines


async def voucher_show(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    voucher = await vouchers_service.get_detail(session, principal, args.code)
    return await _voucher_lines(session, principal, voucher)


async def voucher_revoke(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    voucher = await session_control.revoke_voucher(session, principal, args.code)
    return await _voucher_lines(session, principal, voucher)


SESSION_COLUMNS = (
    "id", "voucher", "mac", "router", "started", "updated", "stopped", "seconds",
    "bytes_in", "bytes_out", "cause", "live",
)  # fmt: skip


def _session_row(s: SessionOut) -> str:
    values = (
        s.id, s.voucher_code or s.username, s.mac, s.router.name if s.router else s.nas_ip_address,
        s.started_at, s.updated_at, s.stopped_at, s.session_seconds, s.bytes_in, s.bytes_out,
        s.terminate_cause, "yes" if s.live else "no",
    )  # fmt: skip
    return "\t".join(_fmt(v) for v in values)


async def sessions_list(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    query = SessionFilter(live=not args.all, limit=args.limit)
    sessions = await sessions_service.list_sessions(session, principal, query)
    return ["\t".join(SESSION_COLUMNS), *(_session_row(s) for s in sessions)]


async def settings_show_or_update(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    changes = {
        "unused_voucher_days": args.unused_voucher_days,
        "acct_interim_interval": args.acct_interim_interval,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:
        data = SettingsUpdate.model_validate(changes)
        settings = await settings_service.update_settings(session, principal, data)
    else:
        settings = await settings_service.get_settings(session, principal)
    return [f"{field}: {value}" for field, value in settings.model_dump().items()]


async def secrets_rotate(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    rows = await rotation.rotate_payment_secrets(session)
    sms_rows = await rotation.rotate_sms_secrets(session)
    wa_rows = await whatsapp_service.rotate_secrets(session)
    mail_rows = await messaging_service.rotate_secrets(session)
    return [
        f"re-encrypted the secrets of {rows} M-Pesa account(s) with the newest key",
        f"re-encrypted the API keys of {sms_rows} SMS account(s) with the newest key",
        f"re-encrypted the secrets of {wa_rows} WhatsApp account(s) with the newest key",
        f"re-encrypted the SMTP passwords of {mail_rows} e-mail sender(s) with the newest key",
    ]


async def secrets_derived_key(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    """The key in use when MNETIFI_ENCRYPTION_KEYS is unset (needed to start a rotation)."""
    return [crypto.derived_key(get_settings().secret_key.get_secret_value()).decode()]


async def audit_purge(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    """The one way audit rows are removed (data retention for a deleted ISP): only rows of an
    ISP that no longer exists, only with --yes, and the purge itself is logged. The trigger is
    disabled inside this transaction only (DDL is transactional: no other session ever sees it
    disabled, and any failure re-enables it by rolling back)."""
    tenant_id = args.tenant_id
    if await session.scalar(text("SELECT 1 FROM tenant WHERE id = :t"), {"t": tenant_id}):
        raise ValueError(f"ISP {tenant_id} still exists; only a deleted ISP's log can be purged")
    if not args.yes:
        raise ValueError("this deletes audit history for good; run again with --yes")
    await session.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change"))
    result = await session.execute(
        text("DELETE FROM audit_event WHERE tenant_id = :t"), {"t": tenant_id}
    )
    await session.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_change"))
    rows = int(result.rowcount or 0)  # type: ignore[attr-defined]
    details = {"tenant_id": tenant_id, "rows": rows}
    await audit.record(session, "cli", "audit.purge", "tenant", tenant_id, details)
    return [f"purged {rows} audit row(s) of deleted ISP {tenant_id}"]


def _password(args: argparse.Namespace, prompt: str) -> str:
    return args.password or os.environ.get("MNETIFI_STAFF_PASSWORD") or getpass.getpass(prompt)


async def staff_add(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    password = _password(args, f"Password for {args.email}: ")
    staff = await staff_service.create_staff(
        session, principal, email=args.email, password=password, role=args.role
    )
    return [f"id: {staff.id}", f"email: {staff.email}", f"role: {staff.role}"]


async def staff_list(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    rows = await staff_service.list_staff(session, principal)
    return [
        "\t".join([str(s.id), s.email, s.role, "active" if s.active else "inactive",
                   ",".join(map(str, s.router_ids)) or "-"])
        for s in rows
    ]  # fmt: skip


async def staff_role(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    staff = await staff_service.find(session, principal, args.email)
    out = await staff_service.change_role(session, principal, staff.id, args.role)
    return [f"{out.email}: {out.role}"]


async def staff_routers(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    staff = await staff_service.find(session, principal, args.email)
    out = await staff_service.set_routers(session, principal, staff.id, args.router_ids)
    return [f"{out.email}: routers {','.join(map(str, out.router_ids)) or 'none'}"]


async def staff_deactivate(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    principal = await _principal(session, args.tenant)
    staff = await staff_service.find(session, principal, args.email)
    out = await staff_service.deactivate(session, principal, staff.id)
    return [f"{out.email}: deactivated"]


async def operator_add(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    password = _password(args, f"Password for {args.email}: ")
    operator = await platform_service.create_operator(session, email=args.email, password=password)
    return [
        f"id: {operator.id}",
        f"email: {operator.email}",
        "next: sign in on the platform's host; the first login can only set up the authenticator",
    ]


async def operator_reset_2fa(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    operator = await platform_service.reset_authenticator(session, email=args.email)
    return [
        f"email: {operator.email}",
        "authenticator removed, sessions ended: the next login sets up a new one",
    ]


class Failed(Exception):
    """A command that ran but found a problem: its lines are printed, the exit status is 1."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


async def payments_check(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    """The money invariant, for one ISP or all of them; exit 1 if anything breaks it."""
    tenant_id = (await _principal(session, args.tenant)).tenant_id if args.tenant else None
    report = await ledger.check(session, tenant_id)
    counts, pending = report["counts"], report["pending_money"]
    lines = [
        f"payments: {counts['payments']}",  # type: ignore[index]
        f"grants: {counts['grants']}",  # type: ignore[index]
        *(f"{name} (not a violation): {n}" for name, n in pending.items()),  # type: ignore[attr-defined]
    ]
    for name, ids in report["violations"].items():  # type: ignore[attr-defined]
        lines.append(
            f"{name}: {len(ids)}" + (f" (ids {', '.join(map(str, ids[:20]))})" if ids else "")
        )
    lines.append(f"violations: {report['total']}")
    if report["total"]:
        raise Failed(lines)
    return lines


async def sms_account(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    """Sets an ISP's Africa's Talking account; the API key comes from AT_API_KEY (never the
    command line, which others can see)."""
    principal = await _principal(session, args.tenant)
    values = {"username": args.username, "sender_id": args.sender_id}
    key = os.environ.get("AT_API_KEY")
    data = SmsSettingsIn.model_validate(values | ({"api_key": key} if key else {}))
    saved = await sms_service.save_settings(session, principal, data)
    return [f"{field}: {value}" for field, value in saved.model_dump().items()]


async def whatsapp_account(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    """Sets an ISP's WhatsApp account; secrets come from AT_WHATSAPP_API_KEY, META_ACCESS_TOKEN,
    META_APP_SECRET and META_VERIFY_TOKEN (never the command line, which others can see)."""
    principal = await _principal(session, args.tenant)
    values = {
        "provider": args.provider,
        "at_username": args.at_username,
        "at_wa_number": args.at_wa_number,
        "meta_phone_number_id": args.meta_phone_number_id,
        "meta_template": args.meta_template,
        "meta_language": args.meta_language,
        "at_api_key": os.environ.get("AT_WHATSAPP_API_KEY"),
        "meta_access_token": os.environ.get("META_ACCESS_TOKEN"),
        "meta_app_secret": os.environ.get("META_APP_SECRET"),
        "meta_verify_token": os.environ.get("META_VERIFY_TOKEN"),
    }
    data = WhatsappSettingsIn.model_validate({k: v for k, v in values.items() if v})
    saved = await whatsapp_service.save_settings(session, principal, data)
    return [f"{field}: {value}" for field, value in saved.model_dump().items()]


async def email_sender(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    """Sets an ISP's e-mail sender; its SMTP password comes from SMTP_PASSWORD."""
    principal = await _principal(session, args.tenant)
    values = {
        "from_address": args.from_address,
        "from_name": args.from_name,
        "smtp_host": args.smtp_host,
        "smtp_port": args.smtp_port,
        "smtp_tls": args.smtp_tls,
        "smtp_username": args.smtp_username,
        "smtp_password": os.environ.get("SMTP_PASSWORD"),
    }
    data = EmailSettingsIn.model_validate({k: v for k, v in values.items() if v})
    saved = await messaging_service.save_email_settings(session, principal, data)
    return [f"{field}: {value}" for field, value in saved.model_dump().items()]


async def payments_account(session: AsyncSession, args: argparse.Namespace) -> list[str]:
    """Sets an ISP's M-Pesa account; the secrets come from DARAJA_CONSUMER_KEY,
    DARAJA_CONSUMER_SECRET and DARAJA_PASSKEY (never the command line, which others can see)."""
    principal = await _principal(session, args.tenant)
    secrets_in = {
        "consumer_key": os.environ.get("DARAJA_CONSUMER_KEY"),
        "consumer_secret": os.environ.get("DARAJA_CONSUMER_SECRET"),
        "passkey": os.environ.get("DARAJA_PASSKEY"),
    }
    data = PaymentSettingsIn.model_validate(
        {
            "environment": args.environment,
            "account_type": args.account_type,
            "shortcode": args.shortcode,
            "till_number": args.till_number,
            "c2b_shortcode": args.c2b_shortcode,
        }
        | {k: v for k, v in secrets_in.items() if v}
    )
    saved = await payments_service.save_settings(session, principal, data)
    return [f"{field}: {value}" for field, value in saved.model_dump().items()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mnetifi", description=__doc__)
    groups = parser.add_subparsers(dest="group", required=True)

    tenant = groups.add_parser("tenant", help="ISPs").add_subparsers(dest="cmd", required=True)
    p = tenant.add_parser("create", help="create an ISP and its owner account")
    p.add_argument("--slug", required=True, help="subdomain, e.g. demo")
    p.add_argument("--name", required=True)
    p.add_argument("--admin-email", required=True)
    p.add_argument(
        "--admin-password", help="10+ characters; else $MNETIFI_ADMIN_PASSWORD or a prompt"
    )
    p.set_defaults(run=tenant_create)
    p = tenant.add_parser("show", help="show an ISP")
    p.add_argument("slug")
    p.set_defaults(run=tenant_show)

    router = groups.add_parser("router", help="MikroTik routers").add_subparsers(
        dest="cmd", required=True
    )
    p = router.add_parser("add", help="register a router; prints its id and RADIUS secret")
    p.add_argument("--tenant", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--ip", required=True, help="source address of its RADIUS packets")
    p.add_argument("--secret", help="16-128 characters; generated if omitted")
    p.add_argument("--coa-port", type=int, default=3799)
    p.add_argument("--nas-identifier")
    p.set_defaults(run=router_add)
    p = router.add_parser("list", help="the ISP's routers (tab-separated; no secrets)")
    p.add_argument("--tenant", required=True)
    p.set_defaults(run=router_list)
    p = router.add_parser("show", help="show a router (its secret only with --show-secret)")
    p.add_argument("--tenant", required=True)
    p.add_argument("router_id")
    p.add_argument("--show-secret", action="store_true", help="also print its RADIUS shared secret")
    p.set_defaults(run=router_show)
    p = router.add_parser("edit", help="change a router (the fields of the API's PATCH)")
    p.add_argument("--tenant", required=True)
    p.add_argument("router_id")
    p.add_argument("--name")
    p.add_argument("--ip", help="source address of its RADIUS packets")
    p.add_argument("--secret", help="a new RADIUS secret, 16-128 characters")
    # Checked by the API's schema, like every other value: a bad port is its sentence, exit 1.
    p.add_argument("--coa-port", help="port of its Disconnect/CoA listener (1-65535)")
    nas = p.add_mutually_exclusive_group()
    nas.add_argument("--nas-identifier")
    nas.add_argument("--no-nas-identifier", action="store_true", help="clear the NAS-Identifier")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_const", const=True)
    state.add_argument(
        "--disable", dest="enabled", action="store_const", const=False,
        help="keep it but refuse logins through it",
    )  # fmt: skip
    p.set_defaults(run=router_edit)
    p = router.add_parser("remove", help="remove a router for good (needs --yes)")
    p.add_argument("--tenant", required=True)
    p.add_argument("router_id")
    p.add_argument("--yes", action="store_true", help="really remove it")
    p.set_defaults(run=router_remove)

    plan = groups.add_parser("plan", help="plans").add_subparsers(dest="cmd", required=True)
    p = plan.add_parser("add", help="create a plan")
    p.add_argument("--tenant", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--price", type=int, required=True, help="KES")
    p.add_argument("--duration", required=True, help="validity from first use: 30m, 1h, 1d, 1w")
    p.add_argument("--up", required=True, help="upload rate: 512k, 2M")
    p.add_argument("--down", required=True, help="download rate: 512k, 4M")
    p.add_argument("--devices", type=int, default=1, help="simultaneous devices")
    p.add_argument("--data", help="data quota: 500MB, 1GB, 1GiB")
    p.add_argument("--time", help="online-time quota: 30m, 2h")
    p.add_argument("--mac-binding", action="store_true")
    p.set_defaults(run=plan_add)

    vouchers = groups.add_parser("vouchers", help="voucher batches").add_subparsers(
        dest="cmd", required=True
    )
    p = vouchers.add_parser("generate", help="issue codes; prints one per line")
    p.add_argument("--tenant", required=True)
    p.add_argument("--plan", required=True, help="plan name")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--length", type=int, default=8)
    p.set_defaults(run=vouchers_generate)
    p = vouchers.add_parser("list", help="print codes, newest first")
    p.add_argument("--tenant", required=True)
    p.add_argument("--status", choices=["unused", "active", "revoked"])
    p.add_argument("--plan", help="plan name")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(run=vouchers_list)

    voucher = groups.add_parser("voucher", help="one voucher").add_subparsers(
        dest="cmd", required=True
    )
    p = voucher.add_parser("show", help="show a voucher: state, usage, devices")
    p.add_argument("--tenant", required=True)
    p.add_argument("code")
    p.set_defaults(run=voucher_show)
    p = voucher.add_parser("revoke", help="revoke a voucher: its next login is refused")
    p.add_argument("--tenant", required=True)
    p.add_argument("code")
    p.set_defaults(run=voucher_revoke)

    p = groups.add_parser("sessions", help="sessions online now (tab-separated, newest first)")
    p.add_argument("--tenant", required=True)
    p.add_argument("--all", action="store_true", help="closed and stale sessions too")
    p.add_argument("--limit", type=int, default=50, help="at most this many (1-500)")
    p.set_defaults(run=sessions_list)

    p = groups.add_parser("settings", help="show or change an ISP's settings")
    p.add_argument("--tenant", required=True)
    p.add_argument(
        "--unused-voucher-days", type=int, help="unused vouchers stop working after N days"
    )
    p.add_argument("--acct-interim-interval", type=int, help="seconds between interim updates")
    p.set_defaults(run=settings_show_or_update)

    secrets = groups.add_parser("secrets", help="secrets at rest").add_subparsers(
        dest="cmd", required=True
    )
    p = secrets.add_parser(
        "rotate", help="re-encrypt stored secrets with the first of MNETIFI_ENCRYPTION_KEYS"
    )
    p.set_defaults(run=secrets_rotate)
    p = secrets.add_parser(
        "derived-key",
        help="print the key derived from MNETIFI_SECRET_KEY (used when no keys are set)",
    )
    p.set_defaults(run=secrets_derived_key)

    audit_ = groups.add_parser("audit", help="the audit log").add_subparsers(
        dest="cmd", required=True
    )
    p = audit_.add_parser(
        "purge",
        help="delete the audit rows of an ISP that no longer exists (logged as audit.purge)",
    )
    p.add_argument("--tenant-id", type=int, required=True, help="the deleted ISP's id")
    p.add_argument("--yes", action="store_true", help="really delete them")
    p.set_defaults(run=audit_purge)
    staff = groups.add_parser("staff", help="an ISP's staff").add_subparsers(
        dest="cmd", required=True
    )
    roles = list(ISP_ROLES)
    p = staff.add_parser("add", help="add a staff member")
    p.add_argument("--tenant", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--role", choices=roles, required=True)
    p.add_argument("--password", help="10+ characters; else $MNETIFI_STAFF_PASSWORD or a prompt")
    p.set_defaults(run=staff_add)
    p = staff.add_parser("list", help="id, email, role, active, routers (tab-separated)")
    p.add_argument("--tenant", required=True)
    p.set_defaults(run=staff_list)
    p = staff.add_parser("role", help="change a role (the last active owner stays)")
    p.add_argument("--tenant", required=True)
    p.add_argument("email")
    p.add_argument("role", choices=roles)
    p.set_defaults(run=staff_role)
    p = staff.add_parser("routers", help="set a tech's routers (ids; none clears them)")
    p.add_argument("--tenant", required=True)
    p.add_argument("email")
    p.add_argument("router_ids", type=int, nargs="*")
    p.set_defaults(run=staff_routers)
    p = staff.add_parser("deactivate", help="deactivate: their next request is refused")
    p.add_argument("--tenant", required=True)
    p.add_argument("email")
    p.set_defaults(run=staff_deactivate)

    operator = groups.add_parser("operator", help="platform operators").add_subparsers(
        dest="cmd", required=True
    )
    p = operator.add_parser("add", help="add a platform operator (no access to any ISP's data)")
    p.add_argument("--email", required=True)
    p.add_argument("--password", help="10+ characters; else $MNETIFI_STAFF_PASSWORD or a prompt")
    p.set_defaults(run=operator_add)
    p = operator.add_parser(
        "reset-2fa", help="remove an operator's lost authenticator; they set up a new one"
    )
    p.add_argument("--email", required=True)
    p.set_defaults(run=operator_reset_2fa)

    payments = groups.add_parser("payments", help="money").add_subparsers(dest="cmd", required=True)
    p = payments.add_parser(
        "check",
        help="money invariant: every payment granted exactly once, every grant paid "
        "(exit 1 on any violation)",
    )
    p.add_argument("--tenant", help="one ISP's slug (default: all)")
    p.set_defaults(run=payments_check)
    p = payments.add_parser(
        "account",
        help="set an ISP's M-Pesa account (secrets from DARAJA_CONSUMER_KEY, "
        "DARAJA_CONSUMER_SECRET, DARAJA_PASSKEY)",
    )
    p.add_argument("--tenant", required=True)
    p.add_argument("--environment", choices=["sandbox", "production"], default="sandbox")
    p.add_argument("--account-type", choices=["paybill", "till"], default="paybill")
    p.add_argument("--shortcode", required=True, help="paybill number, or a till's store number")
    p.add_argument("--till-number")
    p.add_argument("--c2b-shortcode")
    p.set_defaults(run=payments_account)

    sms = groups.add_parser("sms", help="text messages").add_subparsers(dest="cmd", required=True)
    p = sms.add_parser(
        "account", help="set an ISP's Africa's Talking account (API key from AT_API_KEY)"
    )
    p.add_argument("--tenant", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--sender-id")
    p.set_defaults(run=sms_account)

    wa = groups.add_parser("whatsapp", help="WhatsApp messages")
    wa_cmds = wa.add_subparsers(dest="cmd", required=True)
    p = wa_cmds.add_parser(
        "account",
        help="set an ISP's WhatsApp account (secrets from AT_WHATSAPP_API_KEY, META_ACCESS_TOKEN, "
        "META_APP_SECRET, META_VERIFY_TOKEN)",
    )
    p.add_argument("--tenant", required=True)
    p.add_argument("--provider", choices=["at_whatsapp", "meta"], required=True)
    p.add_argument("--at-username")
    p.add_argument("--at-wa-number", help="the ISP's WhatsApp number on Africa's Talking")
    p.add_argument("--meta-phone-number-id")
    p.add_argument("--meta-template", help="default approved template")
    p.add_argument("--meta-language", help="template language, e.g. en")
    p.set_defaults(run=whatsapp_account)

    mail_cmds = groups.add_parser("email", help="e-mail").add_subparsers(dest="cmd", required=True)
    p = mail_cmds.add_parser(
        "sender", help="set an ISP's sender (SMTP password from SMTP_PASSWORD)"
    )
    p.add_argument("--tenant", required=True)
    p.add_argument("--from-address", required=True)
    p.add_argument("--from-name", required=True)
    p.add_argument("--smtp-host")
    p.add_argument("--smtp-port", type=int)
    p.add_argument("--smtp-tls", choices=["starttls", "tls", "none"])
    p.add_argument("--smtp-username")
    p.set_defaults(run=email_sender)
    return parser


async def _execute(command: Command, args: argparse.Namespace) -> list[str]:
    try:
        async with unit_of_work() as session:
            return await command(session, args)
    finally:
        await get_engine().dispose()


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        lines = asyncio.run(_execute(args.run, args))
    except AppError as exc:
        message = exc.detail
    except ValidationError as exc:
        message = _validation_message(exc)
    except ValueError as exc:
        message = str(exc)
    except (SQLAlchemyError, OSError) as exc:
        message = f"database unavailable or failed: {type(exc).__name__}: {exc}".splitlines()[0]
    except Failed as exc:
        print("\n".join(exc.lines))
        return 1
    else:
        if lines:
            print("\n".join(lines))
        return 0
    print(f"mnetifi: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
