"""The route walker: every /api/v1 route, called by tenant B on tenant A's objects, must answer
404/403 and leave A's data unchanged; lists must not show A's objects. A new route with a path
parameter or body this file does not know fails the test, so it cannot slip through. The
dashboard's pages and forms (/admin) are walked the same way in test_tenant_isolation_pages.py."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from api import crypto, messaging
from api.config import get_settings
from api.db import unit_of_work
from api.main import create_app
from api.messaging import consent
from api.models import InboundSms, Plan, RadAcct, Router, Voucher
from api.offers import tasks as offer_tasks
from api.sms.service import send_sms
from tests.factories import accounting, count, make_plan, make_router, make_user_headers
from tests.payshop import new_receipt, phone, stk_body
from tests.radius.conftest import sql

PREFIX = "/api/v1"
# Not tenant data: the caller's own session. Covered by test_auth.py.
SESSION_ROUTES = {
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
    "/api/v1/auth/me",
    "/api/v1/auth/second-factor",
    "/api/v1/auth/second-factor/resend",
}
# A person's own account (second factor, password, sessions): nothing of the ISP's, and nobody
# else's. Covered by test_account.py (another person's session is unknown to "my sessions").
OWN_ACCOUNT = "/api/v1/me/"
# Following a one-time link: public, the link names its ISP. Covered by test_invites.py (on
# another ISP's address a link is unknown).
LINK_ROUTES = {
    "/api/v1/staff/invites/accept",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
}
# Valid bodies, so a 404 proves scoping and not validation.
PATCH_BODIES = {
    "/api/v1/routers/{router_id}": {"name": "hijacked", "enabled": False},
    "/api/v1/plans/{plan_id}": {"name": "hijacked", "price": 999, "active": False},
    "/api/v1/vouchers/{code}": {"device_limit": 7},
    "/api/v1/promos/{promo_id}": {"value": 90, "max_uses": 1, "active": False},
    "/api/v1/staff/{staff_id}/role": {"role": "admin"},
    "/api/v1/staff/{staff_id}/routers": {"router_ids": []},
    "/api/v1/staff/{staff_id}/zones": {"zone_ids": []},
    "/api/v1/zones/{zone_id}": {"name": "hijacked", "latitude": 0.5, "longitude": 35.0},
    "/api/v1/ip-pools/{pool_id}": {"name": "hijacked"},
    "/api/v1/subscriber-plans/{subscriber_plan_id}": {"price": 1, "active": False},
    "/api/v1/subscribers/{subscriber_id}": {"status": "suspended", "name": "hijacked"},
}
# Valid bodies for POSTs on one of A's objects.
POST_BODIES = {
    "/api/v1/vouchers/{code}/extend": {"minutes": 600, "reason": "hijacked time"},
    "/api/v1/subscribers/{subscriber_id}/bill": {"phone": "0712345678", "amount": 10},
}
# B's own rule for an event: B saves its own; A's (its marker wording) stays as it was.
OWN_RULE = "/api/v1/notifications/rules/{event}"
# Which of A's ids a list must not show.
LIST_IDS = {
    "/api/v1/routers": "router_ids",
    "/api/v1/plans": "plan_ids",
    "/api/v1/vouchers": "voucher_ids",
    "/api/v1/sessions": "session_ids",
    "/api/v1/payments": "payment_ids",
    "/api/v1/payments/purchases": "purchase_ids",
    "/api/v1/payments/events": "event_ids",
    # A's router names and voucher codes are markers: a leaked request would show them.
    "/api/v1/sessions/control": "coa_ids",
    "/api/v1/fair-usage": "rule_ids",
    "/api/v1/routers/health": "router_ids",
    "/api/v1/promos": "promo_ids",
    "/api/v1/sms/messages": "sms_ids",
    "/api/v1/messages": "sms_ids",
    # A's audit rows hold A's router and plan names (their before/after values): the markers.
    "/api/v1/audit": "coa_ids",
    "/api/v1/staff": "staff_ids",
    "/api/v1/staff/invites": "invite_ids",
    "/api/v1/tokens": "token_ids",
    # A's rule wording carries A's marker.
    "/api/v1/notifications/rules": "coa_ids",
    "/api/v1/notifications": "notification_ids",
    "/api/v1/outages": "outage_ids",
    # A's offer text is a marker; the counts are B's own (A's stay in the snapshot).
    "/api/v1/broadcasts": "broadcast_ids",
    "/api/v1/broadcasts/audience": "broadcast_ids",
    "/api/v1/broadcasts/consent": "broadcast_ids",
    "/api/v1/zones": "zone_ids",
    "/api/v1/ip-pools": "pool_ids",
    "/api/v1/subscriber-plans": "subscriber_plan_ids",
    "/api/v1/subscribers": "subscriber_ids",
}
# The audit log as CSV: B's export must not hold any of A's markers.
AUDIT_CSV = "/api/v1/audit.csv"
# The platform operators' routes: an ISP's staff get 403 (sign-in is public, covered elsewhere).
PLATFORM = "/api/v1/platform/"
# The caller's own tenant's settings: B reads its own and writes its own (with its current
# values, so the walk's order does not matter); A's stay as they were (the snapshot).
OWN_SETTINGS = "/api/v1/settings"
# Likewise its own M-Pesa account (secrets are write-only, so the shortcode tells whose it is).
OWN_PAYMENTS = "/api/v1/payments/settings"
# And its own SMS account (the key is write-only; the username tells whose it is).
OWN_SMS = "/api/v1/sms/settings"
# And its own WhatsApp account and e-mail sender (what names whose it is, in the answer).
OWN_CHANNELS = {"/api/v1/whatsapp/settings": "at_username", "/api/v1/email/settings": "from_name"}
# Actions on the caller's own account: as B they act on B's (a failure must not be a 500).
OWN_ACTIONS = {
    "/api/v1/payments/settings/test",
    "/api/v1/payments/c2b/register",
    "/api/v1/payments/check",
    "/api/v1/branding",
    "/api/v1/branding/logo",
    "/api/v1/sms/settings/test",
    "/api/v1/staff/policy",
    "/api/v1/broadcasts/consent/opt-out",
}
# Bodies for those actions (as B, on B's own account).
OWN_BODIES = {
    ("PUT", "/api/v1/branding"): {"json": {"display_name": "B's WiFi"}},
    ("PUT", "/api/v1/branding/logo"): {"content": b"\x89PNG\r\n\x1a\n" + bytes(32)},
    ("POST", "/api/v1/sms/settings/test"): {"json": {"to": "+254712345678"}},
    ("PUT", "/api/v1/staff/policy"): {"json": {"require_second_factor": False}},
    # The phone A's customers share with B's: B opts it out of B's offers, never A's.
    ("POST", "/api/v1/broadcasts/consent/opt-out"): {"json": {"phone": "+254799000111"}},
}
OFFER_PHONE = "+254799000111"
# The customer portal: no login, the ISP comes from the Host header. Called on B's address
# with A's plan, purchase and receipt, each must be unknown there.
PORTAL = "/api/v1/portal/"
# Create routes: those referencing another object get A's plan in an otherwise valid body; the
# others only create B's own.
CREATE_REFERENCING = {
    "/api/v1/vouchers/batches": {"count": 2},
    "/api/v1/promos": {"code": "HIJACK", "kind": "fixed", "value": 1},
    "/api/v1/fair-usage": {"scope": "isp", "threshold": 1000, "rate_limit": "1M/1M"},
}
# Create routes naming one of A's routers.
CREATE_AT_ROUTER = {"/api/v1/outages": {"message": "A hijacked outage"}}
# Create routes naming A's zone, A's monthly plan or an address in A's pool: a valid body for B
# but for the one reference of A's each carries (see _subscriber_attacks).
CREATE_SUBSCRIBERS = {"/api/v1/subscribers", "/api/v1/zones"}
# Resolving money by its receipt: A's receipt must be unknown to B.
RESOLVE = "/api/v1/payments/resolve"
CREATE_OWN_ONLY = {"/api/v1/routers", "/api/v1/plans", "/api/v1/tokens", "/api/v1/staff/invites",
                   "/api/v1/broadcasts", "/api/v1/ip-pools",
                   "/api/v1/subscriber-plans"}  # fmt: skip


@dataclass
class World:
    tenant_id: int
    headers: dict[str, str]
    router: Router
    plan: Plan
    codes: list[str]
    voucher_ids: list[int]
    session_ids: list[int]
    settings: dict[str, int]
    payments: dict[str, str]
    sale: dict[str, Any]  # a paid purchase: ids, receipt, voucher code, phone, slug
    promo: dict[str, Any]  # a promo code of its plan, as the API shows it
    batch_id: str  # the batch its codes came from (printable sheet)
    rule: dict[str, Any]  # a fair-usage rule of its plan
    sms: dict[str, Any]  # its SMS account as saved, and the id of a message it sent
    staff_id: int = 0  # its owner
    invite: dict[str, Any] = field(default_factory=dict)  # a pending invitation
    token: dict[str, Any] = field(default_factory=dict)  # an API token (its record)
    # its WhatsApp account and e-mail sender as saved (by settings path), and a WhatsApp message
    channels: dict[str, Any] = field(default_factory=dict)
    notification_ids: list[int] = field(default_factory=list)  # its sale's "payment received"
    wording: str = ""  # its own wording of the usage warning
    outage: dict[str, Any] = field(default_factory=dict)  # an outage announced at its router
    offer: dict[str, Any] = field(default_factory=dict)  # an offer sent, an SMS it received
    # its zone (the router is in it), IP pool, monthly plan and a static subscriber
    network: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> dict[str, str]:
        return {"host": f"{self.sale['slug']}.{get_settings().base_domain}"}

    @property
    def params(self) -> dict[str, str]:
        return {
            "router_id": str(self.router.id),
            "plan_id": str(self.plan.id),
            "code": self.codes[0],
            "promo_id": str(self.promo["id"]),
            "batch_id": self.batch_id,
            "session_id": str(self.session_ids[0]),
            "rule_id": str(self.rule["id"]),
            "staff_id": str(self.staff_id),
            "invite_id": str(self.invite["id"]),
            "token_id": str(self.token["id"]),
            "outage_id": str(self.outage["id"]),
            "broadcast_id": str(self.offer["id"]),
            "zone_id": str(self.network["zone"]["id"]),
            "pool_id": str(self.network["pool"]["id"]),
            "subscriber_plan_id": str(self.network["plan"]["id"]),
            "subscriber_id": str(self.network["subscriber"]["id"]),
        }

    def ids(self, kind: str) -> set[int]:
        return {
            "router_ids": {self.router.id},
            "plan_ids": {self.plan.id},
            "voucher_ids": set(self.voucher_ids),
            "session_ids": set(self.session_ids),
            "payment_ids": {self.sale["payment_id"]},
            "purchase_ids": {self.sale["purchase_id"]},
            "event_ids": {self.sale["event_id"]},
            "promo_ids": {self.promo["id"]},
            "coa_ids": set(),
            "rule_ids": {self.rule["id"]},
            "sms_ids": {self.sms["message_id"], self.channels.get("message_id", 0)},
            "staff_ids": {self.staff_id},
            "invite_ids": {self.invite["id"]},
            "token_ids": {self.token["id"]},
            "notification_ids": set(self.notification_ids),
            "outage_ids": {self.outage["id"]},
            "broadcast_ids": {self.offer["id"]},
            "zone_ids": {self.network["zone"]["id"]},
            "pool_ids": {self.network["pool"]["id"]},
            "subscriber_plan_ids": {self.network["plan"]["id"]},
            "subscriber_ids": {self.network["subscriber"]["id"]},
        }[kind]

    @property
    def markers(self) -> set[str]:
        secrets = [self.payments[k] for k in ("consumer_key", "consumer_secret", "passkey")]
        sale = [self.sale[k] for k in ("receipt", "voucher_code", "phone", "public_id")]
        return {
            self.router.name, str(self.router.ip_address), self.plan.name, *self.codes, *secrets,
            *sale, self.promo["code"], self.sms["username"], self.sms["api_key"],
            self.invite["email"], self.token["name"], self.token["prefix"], self.wording,
            self.outage["message"], *self.channels.get("markers", []), self.offer["text"],
            self.offer["inbound"],
            self.network["zone"]["name"], self.network["pool"]["name"],
            self.network["plan"]["name"], self.network["subscriber"]["username"],
            self.network["subscriber"]["mac"],
        }  # fmt: skip


def api_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every API route, including those of included routers (newer
    FastAPI keeps them behind the include instead of flattening app.routes)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        routes = [(r, r.path) for r in app.routes]
    else:
        routes = [(rc.original_route, rc.path) for rc in iter_route_contexts(app.routes)]
    for route, path in routes:
        if isinstance(route, APIRoute) and path.startswith(PREFIX):
            for method in sorted(route.methods):
                yield method, path


async def make_world(client) -> World:
    tenant, headers = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    plan = await make_plan(tenant=tenant)
    batch = await client.post(
        f"{PREFIX}/vouchers/batches", headers=headers, json={"plan_id": plan.id, "count": 3}
    )
    assert batch.status_code == 201, batch.text
    codes = batch.json()["codes"]
    listed = await client.get(f"{PREFIX}/vouchers", headers=headers)
    # One of its vouchers online at its router, as FreeRADIUS records it.
    for kind in ("start", "interim-update"):
        await accounting(
            kind=kind,
            tenant_id=tenant.id,
            nas=str(router.ip_address),
            username=codes[0],
            unique=f"world-{tenant.slug}",
            bytes_in=1000,
        )
    sessions = await client.get(f"{PREFIX}/sessions", headers=headers)
    # Settings of its own, so another tenant's could not pass for them.
    settings = {"unused_voucher_days": 100 + tenant.id % 3000, "acct_interim_interval": 420}
    patched = await client.patch(f"{PREFIX}/settings", headers=headers, json=settings)
    assert patched.status_code == 200, patched.text
    payments = {
        "environment": "sandbox",
        "account_type": "paybill",
        "shortcode": str(100000 + tenant.id % 900000),
        "consumer_key": f"key-{tenant.slug}",
        "consumer_secret": f"secret-{tenant.slug}",
        "passkey": f"passkey-{tenant.slug}",
    }
    saved = await client.put(f"{PREFIX}/payments/settings", headers=headers, json=payments)
    assert saved.status_code == 200, saved.text
    sale = await _sale(client, tenant.id, tenant.slug, plan)
    promo_body = {"code": "W" + secrets.token_hex(6).upper(), "kind": "percent", "value": 10,
                  "plan_id": plan.id, "max_uses": 5}  # fmt: skip
    promo = await client.post(f"{PREFIX}/promos", headers=headers, json=promo_body)
    assert promo.status_code == 201, promo.text
    rule_body = {"scope": "router", "threshold": 500, "rate_limit": "2M/2M", "plan_id": plan.id}
    rule = await client.post(f"{PREFIX}/fair-usage", headers=headers, json=rule_body)
    assert rule.status_code == 201, rule.text
    sms = {"username": f"u-{tenant.slug}", "api_key": f"atkey-{tenant.slug}",
           "shortcode": str(20000 + tenant.id % 70000)}  # fmt: skip
    saved_sms = await client.put(f"{PREFIX}/sms/settings", headers=headers, json=sms)
    assert saved_sms.status_code == 200, saved_sms.text
    async with unit_of_work() as session:
        sms["message_id"] = await send_sms(session, tenant.id, "+254712345678", "hi", "otp",
                                           f"world-{tenant.slug}")  # fmt: skip
    [owner] = await sql("SELECT id FROM staff_user WHERE tenant_id = :t", t=tenant.id)
    invite_body = {"email": f"invited-{tenant.slug}@example.com", "role": "tech"}
    invite = await client.post(f"{PREFIX}/staff/invites", headers=headers, json=invite_body)
    assert invite.status_code == 201, invite.text
    token_body = {"name": f"sync-{tenant.slug}", "permissions": ["plans:read"]}
    token = await client.post(f"{PREFIX}/tokens", headers=headers, json=token_body)
    assert token.status_code == 201, token.text
    wording = f"Rule-{tenant.slug}: {{percent}}% used"
    rule_saved = await client.put(
        f"{PREFIX}/notifications/rules/usage.data", headers=headers, json={"template_en": wording}
    )
    assert rule_saved.status_code == 200, rule_saved.text
    outage_body = {"router_id": router.id, "message": f"Outage-{tenant.slug} at the router"}
    outage = await client.post(f"{PREFIX}/outages", headers=headers, json=outage_body)
    assert outage.status_code == 201, outage.text
    notes = await sql("SELECT id FROM notification WHERE tenant_id = :t", t=tenant.id)
    assert notes, "the sale decided no payment notification"
    world = World(
        tenant.id,
        headers,
        router,
        plan,
        codes,
        [v["id"] for v in listed.json()],
        [s["id"] for s in sessions.json()],
        settings,
        payments,
        sale,
        promo.json(),
        batch.json()["batch_id"],
        rule.json(),
        sms,
        owner["id"],
        invite.json(),
        {k: v for k, v in token.json().items() if k != "token"},
        await _channels(client, tenant, headers),
        [n["id"] for n in notes],
        f"Rule-{tenant.slug}",
        outage.json(),
        await _offer(client, tenant, headers, saved_sms.json()),
        await _network(client, tenant, headers, router),
    )
    await _quiet(tenant.id)
    return world


async def _network(client, tenant, headers: dict[str, str], router: Router) -> dict[str, Any]:
    """A zone holding the router, an IP pool, a monthly plan and a static subscriber in them."""
    marker = tenant.slug
    net = f"10.{40 + tenant.id % 200}.0"  # each ISP's own network, so B's pool never holds A's
    made: dict[str, Any] = {"net": net}
    for key, path, body in (
        ("zone", "zones", {"name": f"Zone-{marker}", "latitude": -1.3, "longitude": 36.8}),
        ("pool", "ip-pools", {"name": f"Pool-{marker}", "cidr": f"{net}.0/24"}),
        ("plan", "subscriber-plans", {"name": f"Monthly-{marker}", "price": 2000,
                                      "upload_kbps": 2000, "download_kbps": 4000}),
    ):  # fmt: skip
        response = await client.post(f"{PREFIX}/{path}", headers=headers, json=body)
        assert response.status_code == 201, response.text
        made[key] = response.json()
    moved = await client.patch(f"{PREFIX}/routers/{router.id}", headers=headers,
                               json={"zone_id": made["zone"]["id"]})  # fmt: skip
    assert moved.status_code == 200, moved.text
    mac = ":".join(f"{b:02X}" for b in secrets.token_bytes(6))
    body = {"username": f"sub-{marker}", "kind": "static", "name": "A subscriber",
            "zone_id": made["zone"]["id"], "router_id": router.id, "plan_id": made["plan"]["id"],
            "ip_address": f"{net}.10", "mac": mac}  # fmt: skip
    subscriber = await client.post(f"{PREFIX}/subscribers", headers=headers, json=body)
    assert subscriber.status_code == 201, subscriber.text
    made["subscriber"] = subscriber.json()
    return made


async def _subscriber_attacks(client, path: str, a: World, b: World) -> str | None:
    """B creates a zone under A's zone, and subscribers in A's zone, on A's monthly plan, at
    A's router, or with an address only A's pool holds: each refused."""
    if path == "/api/v1/zones":
        body = {"name": "hijacked", "parent_id": a.network["zone"]["id"]}
        bodies = [body]
    else:
        own = {"username": "hijacker-" + secrets.token_hex(3), "name": "B's",
               "plan_id": b.network["plan"]["id"]}  # fmt: skip
        bodies = [
            own | {"zone_id": a.network["zone"]["id"]},
            own | {"plan_id": a.network["plan"]["id"]},
            own | {"router_id": a.router.id},
            own | {"ip_address": f"{a.network['net']}.77"},
        ]
    for body in bodies:
        response = await client.post(path, headers=b.headers, json=body)
        if response.status_code not in (400, 403, 404, 422):
            return f"with A's reference {body}: {response.status_code} {response.text}"
    return None


async def _quiet(tenant_id: int, seconds: float = 15) -> None:
    """Wait until the world's messages stop moving: the worker sends the sale's notification
    and the fakes post delivery reports a moment later, which would otherwise change A's
    snapshot between the "before" and the "after" of a walk (in a flaky way)."""
    last, steady = None, 0
    for _ in range(int(seconds / 0.5)):
        now = await sql(
            """SELECT 'message' AS kind, id, status FROM message WHERE tenant_id = :t
               UNION ALL SELECT 'notification', id, status FROM notification WHERE tenant_id = :t
               ORDER BY 1, 2""",
            t=tenant_id,
        )
        pending = any(row["status"] in ("queued", "new") for row in now)
        steady = steady + 1 if now == last and not pending else 0
        if steady == 3:  # unchanged for 1.5 s: reports come 300 ms after a send
            return
        last = now
        await asyncio.sleep(0.5)
    raise AssertionError(f"tenant {tenant_id}'s messages never settled: {last}")


async def _channels(client, tenant, headers: dict[str, str]) -> dict[str, Any]:
    wa = {"provider": "at_whatsapp", "at_username": f"wa-{tenant.slug}",
          "at_api_key": f"wakey-{tenant.slug}", "at_wa_number": "+254709000000"}  # fmt: skip
    sender = {"from_address": f"noc@{tenant.slug}.example", "from_name": f"Mail {tenant.slug}"}
    for path, body in (("/api/v1/whatsapp/settings", wa), ("/api/v1/email/settings", sender)):
        saved = await client.put(path, headers=headers, json=body)
        assert saved.status_code == 200, saved.text
    async with unit_of_work() as session:
        message_id = await messaging.enqueue(session, tenant.id, "whatsapp", "+254712345678",
                                             "hi", "notice", f"world-wa-{tenant.slug}")  # fmt: skip
    return {
        "/api/v1/whatsapp/settings": wa, "/api/v1/email/settings": sender,
        "message_id": message_id,
        "markers": [wa["at_username"], wa["at_api_key"], sender["from_address"]],
    }  # fmt: skip


async def _offer(client, tenant, headers: dict[str, str], sms: dict[str, Any]) -> dict[str, Any]:
    """An offer sent (and expanded) to the phone its customers share with the other world's, and
    an SMS a customer sent it."""
    async with unit_of_work() as session:
        await consent.opt_in(session, tenant.id, OFFER_PHONE, "purchase", "world", None)
    body = {"text": f"Offer-{tenant.slug}: 2 GB for 50", "channels": ["sms"]}
    sent = await client.post(f"{PREFIX}/broadcasts", headers=headers, json=body)
    assert sent.status_code == 201, sent.text
    await offer_tasks.drain()
    for _ in range(100):  # the stack's worker may be expanding it
        [row] = await sql("SELECT status FROM broadcast WHERE id = :b", b=sent.json()["id"])
        if row["status"] == "done":
            break
        await asyncio.sleep(0.1)
    inbound = f"Hello-{tenant.slug}"
    form = {"from": "+254712345678", "to": sms["shortcode"], "text": inbound,
            "id": f"ATXid_{tenant.slug}", "date": "2026-12-06 10:00:00"}  # fmt: skip
    path = "/hooks/" + sms["inbound_url"].split("/hooks/", 1)[1]
    assert (await client.post(path, data=form)).status_code == 200
    return {"id": sent.json()["id"], "text": body["text"], "inbound": inbound}


async def _sale(client, tenant_id: int, slug: str, plan: Plan) -> dict[str, Any]:
    """A purchase paid by a genuine callback (in process, from an allowlisted address)."""
    msisdn = phone()
    [req] = await sql(
        """INSERT INTO stk_request (tenant_id, plan_id, phone, amount, account_type, reference,
                                    merchant_request_id, checkout_request_id)
           VALUES (:t, :plan, :phone, :amount, 'paybill', :ref, 'm-1', :checkout) RETURNING *""",
        t=tenant_id, plan=plan.id, phone=msisdn, amount=plan.price,
        ref="WF" + secrets.token_hex(4).upper(), checkout="ws_CO_" + secrets.token_hex(10),
    )  # fmt: skip
    [row] = await sql("SELECT callback_token_enc FROM payment_settings WHERE tenant_id = :t",
                      t=tenant_id)  # fmt: skip
    receipt = new_receipt()
    body = stk_body(req["checkout_request_id"], amount=float(plan.price), receipt=receipt,
                    phone=msisdn)  # fmt: skip
    url = f"/hooks/{tenant_id}/{crypto.decrypt(row['callback_token_enc'])}/stk"
    assert (await client.post(url, json=body)).status_code == 200
    [paid] = await sql(
        """SELECT p.id AS payment_id, v.code, e.id AS event_id FROM payment p
             JOIN payment_grant g ON g.payment_id = p.id JOIN voucher v ON v.id = g.voucher_id
             JOIN payment_event e ON e.payment_id = p.id
            WHERE p.stk_request_id = :r""",
        r=req["id"],
    )
    return {
        "slug": slug, "purchase_id": req["id"], "public_id": str(req["public_id"]),
        "payment_id": paid["payment_id"], "event_id": paid["event_id"], "receipt": receipt,
        "voucher_code": paid["code"], "phone": msisdn, "plan_id": plan.id,
    }  # fmt: skip


async def snapshot(client, world: World) -> dict[str, Any]:
    """A's objects as A sees them."""
    urls = [
        f"{PREFIX}/routers/{world.router.id}",
        f"{PREFIX}/plans/{world.plan.id}",
        *(f"{PREFIX}/vouchers/{code}" for code in world.codes),
        *(f"{PREFIX}/vouchers/{code}/sessions" for code in world.codes),
        f"{PREFIX}/sessions?live=false",
        f"{PREFIX}/settings",
        f"{PREFIX}/payments/settings",
        f"{PREFIX}/payments",
        f"{PREFIX}/payments/purchases",
        f"{PREFIX}/promos",
        f"{PREFIX}/promos/{world.promo['id']}",
        f"{PREFIX}/sms/settings",
        f"{PREFIX}/sms/messages",
        f"{PREFIX}/staff",
        f"{PREFIX}/staff/invites",
        f"{PREFIX}/tokens",
        f"{PREFIX}/staff/policy",
        f"{PREFIX}/fair-usage",
        f"{PREFIX}/notifications/rules",
        f"{PREFIX}/notifications",
        f"{PREFIX}/outages",
        f"{PREFIX}/broadcasts",
        f"{PREFIX}/broadcasts/{world.offer['id']}",
        f"{PREFIX}/broadcasts/consent",
        f"{PREFIX}/broadcasts/audience",
        f"{PREFIX}/zones",
        f"{PREFIX}/ip-pools",
        f"{PREFIX}/subscriber-plans",
        f"{PREFIX}/subscribers",
        f"{PREFIX}/subscribers/{world.network['subscriber']['id']}",
    ]
    state: dict[str, Any] = {}
    for url in urls:
        response = await client.get(url, headers=world.headers)
        state[url] = (response.status_code, response.json())
    state["counts"] = (
        await count(Router, tenant_id=world.tenant_id),
        await count(Plan, tenant_id=world.tenant_id),
        await count(Voucher, tenant_id=world.tenant_id),
        await count(RadAcct, tenant_id=world.tenant_id),
        await count(InboundSms, tenant_id=world.tenant_id),
        [
            dict(r)
            for r in await sql(
                "SELECT * FROM offer_consent WHERE tenant_id = :t", t=world.tenant_id
            )
        ],  # fmt: skip
    )
    return state


def _leaks(body: Any, world: World, id_kind: str) -> list[str]:
    items = body if isinstance(body, list) else body.get("items", [])
    leaked_ids = {item.get("id") for item in items} & world.ids(id_kind)
    text = json.dumps(body)
    leaked_markers = {m for m in world.markers if m in text}
    return [f"ids {sorted(leaked_ids)}"] * bool(leaked_ids) + [
        f"values {sorted(leaked_markers)}"
    ] * bool(leaked_markers)


async def walk(app: FastAPI, client, a: World, b: World) -> tuple[int, list[str]]:
    """Calls every API route as B against A; returns (routes walked, failures)."""
    failures: list[str] = []
    walked = 0
    for method, path in api_routes(app):
        if path in SESSION_ROUTES or path in LINK_ROUTES or path.startswith(OWN_ACCOUNT):
            continue
        walked += 1
        failure = await _attack(client, method, path, a, b)
        if failure:
            failures.append(f"{method} {path}: {failure}")
    return walked, failures


async def _attack(client, method: str, path: str, a: World, b: World) -> str | None:
    params = [p.split("}")[0] for p in path.split("{")[1:]]
    if path == OWN_SETTINGS:
        response = await client.request(method, path, headers=b.headers, json=b.settings)
        shown = response.json() if response.status_code == 200 else {}
        if any(shown.get(k) != v for k, v in b.settings.items()):
            return f"not B's own settings: {response.status_code} {response.text}"
    elif path == OWN_RULE:
        body = {"template_en": f"{b.wording}: {{percent}}% used"}
        response = await client.put(path.format(event="usage.data"), headers=b.headers, json=body)
        leaks = _leaks(response.json(), a, "coa_ids")
        if response.status_code != 200 or b.wording not in response.text or leaks:
            return f"not B's own rule: {response.status_code}, shows A's {leaks}"
    elif path == RESOLVE:
        body = {"receipt": a.sale["receipt"], "plan_id": b.plan.id, "reason": "hijacked money"}
        response = await client.post(path, headers=b.headers, json=body)
        if response.status_code != 404:
            return f"with A's receipt: {response.status_code} {response.text}"
    elif path == OWN_PAYMENTS:
        body = b.payments if method == "PUT" else None
        response = await client.request(method, path, headers=b.headers, json=body)
        if response.status_code != 200 or response.json()["shortcode"] != b.payments["shortcode"]:
            return f"not B's own M-Pesa account: {response.status_code} {response.text}"
    elif path == OWN_SMS:
        return await _own_sms(client, method, path, a, b)
    elif path in OWN_CHANNELS:
        return await _own_channel(client, method, path, a, b)
    elif path in OWN_ACTIONS:
        body = OWN_BODIES.get((method, path))
        response = await client.request(method, path, headers=b.headers, **body or {})
        if response.status_code == 204:
            return None
        leaks = _leaks(response.json(), a, "router_ids")
        if response.status_code >= 500 or leaks:
            return f"{response.status_code}, shows A's {leaks}: {response.text}"
    elif path.startswith(PLATFORM):
        if path in ("/api/v1/platform/login", "/api/v1/platform/second-factor"):
            return None  # public: the sign-in steps
        response = await client.request(method, path, headers=b.headers)
        if response.status_code != 403:
            return f"an ISP's staff on the platform's routes: {response.status_code}"
    elif path.startswith(PORTAL):
        return await _portal_attack(client, method, path, a, b)
    elif path == AUDIT_CSV:
        response = await client.get(path, headers=b.headers)
        leaked = {m for m in a.markers if m in response.text}
        if response.status_code != 200 or leaked:
            return f"{response.status_code}, shows A's {sorted(leaked)}"
    elif params:
        unknown = [p for p in params if p not in a.params]
        if unknown:
            return f"unknown path parameter(s) {unknown}; teach this test"
        body = PATCH_BODIES.get(path) if method in {"PATCH", "PUT"} else POST_BODIES.get(path)
        if method in {"PATCH", "PUT"} and body is None:
            return "no valid body known; add one to PATCH_BODIES"
        response = await client.request(
            method, path.format(**a.params), headers=b.headers, json=body
        )
        if response.status_code not in (403, 404):
            return f"on A's object: {response.status_code} {response.text}"
    elif method == "GET":
        if path not in LIST_IDS:
            return "unknown list route; add it to LIST_IDS"
        response = await client.get(path, headers=b.headers)
        leaks = _leaks(response.json(), a, LIST_IDS[path])
        if response.status_code != 200 or leaks:
            return f"{response.status_code}, shows A's {leaks}"
    elif method == "POST" and path in CREATE_AT_ROUTER:
        body = CREATE_AT_ROUTER[path] | {"router_id": a.router.id}
        response = await client.post(path, headers=b.headers, json=body)
        if response.status_code not in (403, 404):
            return f"at A's router: {response.status_code} {response.text}"
    elif method == "POST" and path in CREATE_SUBSCRIBERS:
        return await _subscriber_attacks(client, path, a, b)
    elif method == "POST" and path in CREATE_REFERENCING:
        body = CREATE_REFERENCING[path] | {"plan_id": a.plan.id}
        response = await client.post(path, headers=b.headers, json=body)
        if response.status_code not in (403, 404):
            return f"with A's plan: {response.status_code} {response.text}"
    elif not (method == "POST" and path in CREATE_OWN_ONLY):
        return "not covered by the tenant walker; teach this test"
    return None


async def _own_sms(client, method: str, path: str, a: World, b: World) -> str | None:
    """B reads, replaces or removes its own SMS account, never A's (then B's is put back)."""
    body = {k: b.sms[k] for k in ("username", "api_key", "shortcode")} if method == "PUT" else None
    response = await client.request(method, path, headers=b.headers, json=body)
    restored = {k: b.sms[k] for k in ("username", "api_key", "shortcode")}
    await client.put(path, headers=b.headers, json=restored)
    if response.status_code != 200 or response.json()["username"] not in (b.sms["username"], None):
        return f"not B's own SMS account: {response.status_code} {response.text}"
    leaks = _leaks(response.json(), a, "sms_ids")
    return f"shows A's {leaks}" if leaks else None


async def _own_channel(client, method: str, path: str, a: World, b: World) -> str | None:
    """B reads, replaces or removes its own WhatsApp account or e-mail sender, never A's (then
    B's is put back)."""
    own = b.channels[path]
    response = await client.request(
        method, path, headers=b.headers, json=own if method == "PUT" else None
    )
    await client.put(path, headers=b.headers, json=own)
    whose = OWN_CHANNELS[path]
    if response.status_code != 200 or response.json()[whose] not in (own[whose], None):
        return f"not B's own account: {response.status_code} {response.text}"
    leaks = _leaks(response.json(), a, "sms_ids")
    return f"shows A's {leaks}" if leaks else None


async def _portal_attack(client, method: str, path: str, a: World, b: World) -> str | None:
    """On B's address: A's purchase is unknown, A's plan cannot be bought, A's receipt cannot
    be claimed."""
    bodies = {
        "/api/v1/portal/purchases": {"plan_id": a.sale["plan_id"], "phone": "0712345678"},
        "/api/v1/portal/claims": {"receipt": a.sale["receipt"], "plan_id": b.sale["plan_id"]},
        "/api/v1/portal/quote": {"plan_id": a.sale["plan_id"]},
    }
    if path == "/api/v1/portal/plans":
        response = await client.get(path, headers=b.host)
        leaks = _leaks(response.json(), a, "plan_ids")
        return (
            f"{response.status_code}, shows A's {leaks}"
            if response.status_code != 200 or leaks
            else None
        )
    if path not in bodies and "{purchase_id}" not in path and "{code}" not in path:
        return "unknown portal route; teach this test"
    url = path.format(purchase_id=a.sale["public_id"], code=a.sale["voucher_code"])
    response = await client.request(method, url, headers=b.host, json=bodies.get(path))
    if response.status_code != 404:
        return f"on B's portal with A's data: {response.status_code} {response.text}"
    if _leaks(response.json(), a, "payment_ids"):
        return f"shows A's data: {response.text}"
    return None


async def test_other_tenant_cannot_see_or_touch_anything(app, client):
    a, b = await make_world(client), await make_world(client)
    before = await snapshot(client, a)
    walked, failures = await walk(app, client, a, b)
    assert walked >= 11, f"only {walked} routes walked: is the route listing broken?"
    assert not failures, "Tenant isolation failures:\n" + "\n".join(failures)
    assert await snapshot(client, a) == before, "tenant B changed tenant A's data"
    assert await count(Voucher, tenant_id=b.tenant_id, source="batch") == 3, (
        "B got vouchers from A's plan"
    )
    b_promos = await sql("SELECT id FROM promo_code WHERE tenant_id = :t", t=b.tenant_id)
    assert [p["id"] for p in b_promos] == [b.promo["id"]], "B made a promo for A's plan"


async def test_walker_refuses_routes_it_does_not_know(client):
    app = create_app()
    extra = APIRouter(prefix="/api/v1/things")

    @extra.get("/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @extra.put("")
    async def replace_things() -> None:
        return None

    app.include_router(extra)
    a, b = await make_world(client), await make_world(client)
    _, failures = await walk(app, client, a, b)
    assert len(failures) == 2
    assert "unknown path parameter(s) ['thing_id']" in failures[0]
    assert "not covered" in failures[1]
