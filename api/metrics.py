"""Prometheus metrics. Labels use the route template (/api/v1/routers/{router_id}), never the
raw path, so one series per route however many ids exist."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import Message, Receive, Scope, Send

from api.middleware import HttpMiddleware

REQUESTS = Counter(
    "mnetifi_http_requests_total", "HTTP requests handled.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "mnetifi_http_request_duration_seconds", "Time to handle an HTTP request.", ["method", "route"]
)

PAYMENT_EVENTS = Counter(
    "mnetifi_payment_events_total",
    "Daraja callbacks and C2B requests by verdict (forged and malformed ones included).",
    ["kind", "verdict"],
)

DASHBOARD_STREAMS = Gauge(
    "mnetifi_dashboard_streams_open",
    "Live dashboard figure streams (SSE) open in this API process.",
)
PORTAL_STREAMS = Gauge(
    "mnetifi_portal_streams_open",
    "Live purchase status streams (SSE) open in this API process.",
)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class MetricsMiddleware(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # The router writes the matched route into this same scope dict.
            route, method = route_template(scope), scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)
