"""Who is online and what a voucher was used for, read from FreeRADIUS's accounting."""

from __future__ import annotations

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api.routers import service as routers_service
from api.sessions import repository
from api.sessions.schemas import SessionFilter, SessionOut, SessionPage
from api.tenancy import Principal
from api.vouchers import service as vouchers_service
from api.vouchers.schemas import RouterRef


def _out(row: RowMapping) -> SessionOut:
    router = RouterRef.of(row["router_id"], row["router_name"])
    return SessionOut.model_validate({**row, "router": router})


async def list_sessions(
    session: AsyncSession, principal: Principal, query: SessionFilter
) -> list[SessionOut]:
    """The tenant's sessions; another tenant's router or voucher is a 404, like everywhere."""
    voucher_id = router_id = None
    if query.voucher is not None:
        voucher_id = (await vouchers_service.get_voucher(session, principal, query.voucher)).id
    if query.router_id is not None:
        router_id = (await routers_service.get_router(session, principal, query.router_id)).id
    rows = await repository.list_(
        session,
        principal,
        query,
        live_only=query.live,
        voucher_id=voucher_id,
        router_id=router_id,
    )
    return [_out(row) for row in rows]


async def voucher_sessions(
    session: AsyncSession, principal: Principal, code: str, page: SessionPage
) -> list[SessionOut]:
    """Every session of one voucher, live or closed: its usage log."""
    voucher = await vouchers_service.get_voucher(session, principal, code)
    rows = await repository.list_(session, principal, page, voucher_id=voucher.id)
    return [_out(row) for row in rows]
