"""The demo ISP's monthly side, seeded by `deploy/stack.sh up` (dev) after the CLI's part:
zones (Nairobi → Kibera, Kawangware), a monthly plan, an IP pool, a PPPoE subscriber whose
password is in the stack's secrets (so its self-care page at /account can be tried), a static
client, and one customer who asked for offers. Through the same services as the API, as the
platform's CLI acts; run again it changes nothing.

    python -m deploy.seed_demo <password of the demo PPPoE subscriber>
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from api.db import unit_of_work
from api.messaging import consent
from api.models import Router, Subscriber, Tenant
from api.subscribers import catalogue
from api.subscribers import service as subscribers
from api.subscribers.schemas import PlanCreate, PoolCreate, SubscriberCreate
from api.tenancy import Principal, in_tenant
from api.zones import service as zones
from api.zones.schemas import ZoneCreate


async def seed(password: str) -> None:
    async with unit_of_work() as session:
        tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        if tenant_id is None:
            raise SystemExit("no demo ISP: deploy/stack.sh seeds it first")
        found = select(Subscriber.id).where(in_tenant(Subscriber, tenant_id)).limit(1)
        if await session.scalar(found):
            return  # seeded before
        me = Principal.cli(tenant_id)
        router_id = await session.scalar(
            select(Router.id).where(in_tenant(Router, tenant_id)).limit(1)
        )
        nairobi = await zones.create_zone(
            session, me, ZoneCreate(name="Nairobi", latitude=-1.2921, longitude=36.8219)
        )
        kibera = await zones.create_zone(session, me, ZoneCreate(
            name="Kibera", parent_id=nairobi.id, latitude=-1.3133, longitude=36.7870))  # fmt: skip
        await zones.create_zone(session, me, ZoneCreate(name="Kawangware", parent_id=nairobi.id))
        home = await catalogue.create_plan(session, me, PlanCreate(
            name="Home 10M", price=2500, upload_kbps=5000, download_kbps=10000))  # fmt: skip
        await catalogue.create_pool(session, me, PoolCreate(name="Static", cidr="10.77.0.0/24"))
        await subscribers.create_subscriber(session, me, SubscriberCreate(
            username="amina.otieno", password=password, name="Amina Otieno",
            phone="0712345678", zone_id=kibera.id, router_id=router_id, plan_id=home.id,
            due_at=datetime.now(UTC) + timedelta(days=2)))  # fmt: skip
        await subscribers.create_subscriber(session, me, SubscriberCreate(
            username="kiosk-01", kind="static", name="Mama Njeri's kiosk", zone_id=kibera.id,
            router_id=router_id, plan_id=home.id, ip_address="10.77.0.10",
            mac="AA:BB:CC:00:00:10", due_at=datetime.now(UTC) - timedelta(days=3)))  # fmt: skip
        # A customer who asked for offers (the portal's box, ticked at a paid purchase).
        await consent.opt_in(session, tenant_id, "+254712345678", "staff", "demo", "en")


if __name__ == "__main__":
    asyncio.run(seed(sys.argv[1]))
