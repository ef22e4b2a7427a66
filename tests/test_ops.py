"""/healthz, /metrics and the worker heartbeat."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

from api import worker
from api.config import get_settings
from api.health import HEARTBEAT_KEY, status_server_packet
from api.security import get_redis
from tests.factories import make_user_headers


class FakeRadius(asyncio.DatagramProtocol):
    """Answers a Status-Server only if its Message-Authenticator is right."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        zeroed = data[:-16] + bytes(16)
        if data[0] == 12 and hmac.compare_digest(
            hmac.new(self.secret, zeroed, hashlib.md5).digest(), data[-16:]
        ):
            self.transport.sendto(bytes([2, data[1]]) + data[2:], addr)


def test_status_server_packet_layout():
    packet = status_server_packet(b"s3cret", 7, bytes(range(16)))
    assert packet[:4] == bytes([12, 7, 0, 38]) and len(packet) == 38
    assert packet[20:22] == bytes([80, 18])
    expected = hmac.new(b"s3cret", packet[:22] + bytes(16), hashlib.md5).digest()
    assert packet[22:] == expected


async def test_healthz_ok_with_answering_radius(client, monkeypatch):
    settings = get_settings()
    loop = asyncio.get_running_loop()
    secret = settings.radius_status_secret.get_secret_value().encode()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: FakeRadius(secret), local_addr=("127.0.0.1", 0)
    )
    try:
        port = transport.get_extra_info("sockname")[1]
        monkeypatch.setattr(settings, "radius_host", "127.0.0.1")
        monkeypatch.setattr(settings, "radius_auth_port", port)
        await worker.heartbeat({"redis": get_redis()})
        response = await client.get("/healthz")
    finally:
        transport.close()
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["postgres"]["ok"] and checks["redis"]["ok"] and checks["freeradius"]["ok"]
    assert 0 <= checks["worker"]["heartbeat_age_seconds"] < 60
    assert 0 < await get_redis().ttl(HEARTBEAT_KEY) <= 180


async def test_healthz_503_when_radius_is_silent(client, monkeypatch):
    settings = get_settings()
    monkeypatch.setattr(settings, "radius_host", "127.0.0.1")
    monkeypatch.setattr(settings, "radius_auth_port", 9)  # discard: nobody answers
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["freeradius"]["ok"] is False
    assert response.json()["checks"]["postgres"]["ok"] is True


async def test_metrics_use_route_templates(client):
    _, headers = await make_user_headers(client)
    await client.get("/api/v1/routers/123456", headers=headers)
    await client.get("/no/such/page")
    text = (await client.get("/metrics")).text
    assert 'route="/api/v1/routers/{router_id}",status="404"' in text
    assert 'route="unmatched"' in text
    assert "/api/v1/routers/123456" not in text
    assert "/no/such/page" not in text
