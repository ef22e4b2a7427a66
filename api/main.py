"""The FastAPI application: `uvicorn api.main:app`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api import openapi, outbound
from api.account.endpoints import router as account_router
from api.admin import pages as admin
from api.audit.endpoints import router as audit_router
from api.auth.endpoints import router as auth_router
from api.bills.endpoints import router as bills_router
from api.bills.pages import router as expired_page
from api.db import get_engine
from api.errors import install_error_handlers
from api.health import health
from api.hotspot import pages as hotspot
from api.hotspot.endpoints import router as hotspot_router
from api.inputs import InputGuard, validation_error
from api.messaging.endpoints import router as messages_router
from api.metrics import MetricsMiddleware
from api.middleware import BodyLimit, SecurityHeaders
from api.notifications.endpoints import outages_router
from api.notifications.endpoints import router as notifications_router
from api.offers.endpoints import router as offers_router
from api.payments.callbacks import RedactHookTokens
from api.payments.callbacks import router as hooks_router
from api.payments.endpoints import portal_router
from api.payments.endpoints import router as payments_router
from api.plans.endpoints import router as plans_router
from api.platform.endpoints import router as platform_router
from api.promos.endpoints import router as promos_router
from api.routers.endpoints import router as routers_router
from api.routers.onboarding import router as onboarding_router
from api.security import get_redis
from api.selfcare.pages import router as selfcare_pages
from api.sessions.endpoints import router as sessions_router
from api.settings.endpoints import router as settings_router
from api.sms.endpoints import hooks_router as sms_hooks_router
from api.sms.endpoints import router as sms_router
from api.staff.endpoints import router as staff_router
from api.staff.endpoints import tokens_router
from api.subscribers.endpoints import plans_router as subscriber_plans_router
from api.subscribers.endpoints import pools_router as ip_pools_router
from api.subscribers.endpoints import router as subscribers_router
from api.tenancy import public
from api.vouchers.endpoints import router as vouchers_router
from api.whatsapp.endpoints import RedactVerifyTokens
from api.whatsapp.endpoints import hooks_router as whatsapp_hooks_router
from api.whatsapp.endpoints import router as whatsapp_router
from api.zones.endpoints import router as zones_router


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await outbound.close_all()
    await get_redis().aclose()
    await get_engine().dispose()


def create_app() -> FastAPI:
    # Uvicorn's access log would print each ISP's callback token (it is in the URL path).
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactHookTokens) for f in access_log.filters):
        access_log.addFilter(RedactHookTokens())
    if not any(isinstance(f, RedactVerifyTokens) for f in access_log.filters):
        access_log.addFilter(RedactVerifyTokens())
    app = FastAPI(
        title="mnetifi",
        summary="WiFi hotspot AAA for ISPs on MikroTik",
        version="0.1.0",
        # Swagger UI with its files served by us (api/openapi.py), not a CDN's; no ReDoc.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_exception_handler(RequestValidationError, validation_error)
    openapi.install(app)
    # Added innermost first: the body cap wraps the input guard (which reads JSON and form
    # bodies whole), metrics count their refusals too, security headers go on everything.
    app.add_middleware(InputGuard)
    app.add_middleware(BodyLimit)
    app.add_middleware(MetricsMiddleware)
    for router in (
        auth_router,
        onboarding_router,  # before routers_router: /routers/health is not a router id
        routers_router,
        plans_router,
        promos_router,
        vouchers_router,
        sessions_router,
        settings_router,
        staff_router,
        tokens_router,
        account_router,
        platform_router,
        payments_router,
        portal_router,
        sms_router,
        notifications_router,
        outages_router,
        offers_router,
        sms_hooks_router,  # before hooks_router: /hooks/sms/delivery is not a Daraja hook
        whatsapp_router,
        whatsapp_hooks_router,
        messages_router,
        hooks_router,
        audit_router,
        zones_router,
        subscribers_router,
        bills_router,
        subscriber_plans_router,
        ip_pools_router,
    ):
        app.include_router(router)
    app.include_router(hotspot_router)  # branding, voucher sheets
    app.include_router(expired_page)
    app.include_router(selfcare_pages)
    hotspot.install(app)
    admin.install(app)
    app.add_middleware(GZipMiddleware, minimum_size=600)  # a hotspot's link is slow
    app.add_middleware(SecurityHeaders)

    @app.get("/healthz", tags=["ops"], dependencies=[Depends(public("health checks"))])
    async def healthz() -> JSONResponse:
        ok, body = await health()
        return JSONResponse(body, status_code=200 if ok else 503)

    # Prometheus scrapes it; it holds counters, no ISP's data.
    @app.get(
        "/metrics",
        tags=["ops"],
        include_in_schema=False,
        dependencies=[Depends(public("Prometheus metrics"))],
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


app = create_app()
