"""Schemathesis over the OpenAPI document, against the test stack's API process (uvicorn, real
PostgreSQL and Redis, the fake Daraja): every staff and portal operation, as the owner of an ISP
with a plan, a router, vouchers and an M-Pesa account, on that ISP's own host.

Checks: no 5xx, every status and body as documented (our error schema included), the content
type as documented, and no answer slower than 2 s. Deterministic (derandomized, no example
database) and bounded per operation so the whole module stays within a few minutes."""

from __future__ import annotations

import os
import secrets

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import max_response_time, not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.config import get_settings
from api.main import create_app
from tests.factories import PASSWORD, make_router, make_staff, make_voucher
from tests.payshop import make_shop, shop_plan, shop_tenant

API = os.environ.get("MNETIFI_API_URL", "")
MAX_RESPONSE_SECONDS = 2.0
EXAMPLES = int(os.environ.get("MNETIFI_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    max_response_time,
]
# Ops endpoints are probed by the health tests; logging out would end the fuzzer's own session.
EXCLUDED = r"^/(healthz|api/v1/auth/logout)$"
# The fuzzer's wrong logins, passwords and codes count against its client address (login and
# portal budgets are per address, and lockouts outlive a run on a reused stack): it comes from an
# address of its own each run, not the suite's 127.0.0.1.
FUZZER_ADDRESS = f"127.0.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}"


class _FromAddress(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["source_address"] = (FUZZER_ADDRESS, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture(scope="session")
def fuzzer_session() -> requests.Session:
    session = requests.Session()
    session.mount("http://", _FromAddress())
    return session


def api_schema() -> schemathesis.BaseSchema:
    """The document the API process serves, built from the same code (no server needed to
    collect the tests); requests go to the stack's API."""
    config = SchemathesisConfig.from_dict({"checks": {"max_response_time": MAX_RESPONSE_SECONDS}})
    schema = schemathesis.openapi.from_dict(create_app().openapi(), config=config)
    return schema.exclude(path_regex=EXCLUDED)


@pytest.fixture(scope="session")
async def owner_headers() -> dict[str, str]:
    """An ISP that sells (plan, router, M-Pesa account, vouchers) and its owner's token, sent on
    the ISP's host so the portal's operations find it too."""
    shop = await make_shop()
    tenant = await shop_tenant(shop)
    await make_router(tenant=tenant)
    plan = await shop_plan(shop)
    for _ in range(3):
        await make_voucher(plan=plan)
    staff = await make_staff(tenant=tenant, role="owner")
    transport = httpx.AsyncHTTPTransport(local_address=FUZZER_ADDRESS)
    async with httpx.AsyncClient(base_url=API, transport=transport) as client:
        response = await client.post(
            "/api/v1/auth/login",
            json={"email": staff.email, "password": PASSWORD, "tenant": tenant.slug},
        )
    assert response.status_code == 200, response.text
    return {
        "Authorization": f"Bearer {response.json()['access_token']}",
        "Host": f"{shop.slug}.{get_settings().base_domain}",
    }


schema = api_schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_keeps_its_contract(
    case: schemathesis.Case, owner_headers: dict[str, str], fuzzer_session: requests.Session
) -> None:
    case.call_and_validate(
        base_url=API, session=fuzzer_session, headers=owner_headers, checks=CHECKS, timeout=10
    )
