"""The RouterOS onboarding script (GET /api/v1/routers/{id}/script) and router health
(GET /api/v1/routers/health, /api/v1/routers/{id}/health).

The script is read back with a small RouterOS tokenizer (strings with their escapes, [...]
commands, key=value arguments), so the tests compare fields as RouterOS would see them, and a
hostile value that broke out of its string would show up as an extra or a different command."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from api.config import RadiusServer, get_settings, parse_radius_servers
from api.main import create_app
from api.models import AuditEvent
from api.routers import onboarding
from api.routers.script import quote
from tests.factories import (
    accounting,
    count,
    login,
    make_router,
    make_staff,
    make_tenant,
    make_user_headers,
)
from tests.radius.conftest import sql

URL = "/api/v1/routers"
SERVERS = "10.255.0.1:1812:1813, 10.255.0.2:11812:11813"
HOSTILE_NAME = 'x" ; /system reset-configuration ; "'


@pytest.fixture(scope="module")
def app() -> FastAPI:
    """The real app. Until api/main.py includes the onboarding routes, they are put first here,
    where main.py must put them (before /api/v1/routers/{router_id})."""
    app = create_app()
    if "/api/v1/routers/health" not in create_app().openapi()["paths"]:
        app.include_router(onboarding.router)
        app.router.routes.insert(0, app.router.routes.pop())
    return app


@pytest.fixture
def two_servers(monkeypatch):
    monkeypatch.setattr(get_settings(), "radius_servers", SERVERS)


# ---------------------------------------------------------------- reading RouterOS
_SIMPLE = {'"': '"', "\\": "\\", "$": "$", "?": "?", "n": "\n", "r": "\r", "t": "\t", "_": " "}


def _string(line: str, i: int) -> tuple[str, int]:
    """The string literal starting at line[i] (a quote), decoded; and the index after it. A bare
    `$` (substitution) or a missing closing quote is a failure: the value was not contained."""
    out = bytearray()
    i += 1
    while True:
        assert i < len(line), f"unterminated string in {line!r}"
        ch = line[i]
        if ch == '"':
            return out.decode(), i + 1
        assert ch not in "$?", f"unescaped {ch!r} in a string: {line!r}"
        if ch == "\\":
            nxt = line[i + 1]
            if nxt in _SIMPLE:
                out += _SIMPLE[nxt].encode()
                i += 2
            else:
                code = line[i + 1 : i + 3]
                assert len(code) == 2 and all(c in "0123456789ABCDEF" for c in code), line
                out.append(int(code, 16))
                i += 3
        else:
            out += ch.encode()
            i += 1


def tokens(line: str) -> list[str]:
    """Space-separated words, strings decoded; a [...] command is kept as one word (with its
    strings decoded). `;` outside a string would end the command: that is a failure."""
    words: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == " ":
            i += 1
            continue
        word, depth = "", 0
        while i < len(line) and (line[i] != " " or depth):
            ch = line[i]
            assert ch != ";", f"command separator outside a string: {line!r}"
            if ch == '"':
                text, i = _string(line, i)
                word += text
                continue
            depth += {"[": 1, "]": -1}.get(ch, 0)
            word += ch
            i += 1
        words.append(word)
    return words


def commands(script: str) -> list[tuple[str, dict[str, str]]]:
    """(menu and verb, arguments) of every command line; comments and blank lines skipped."""
    out = []
    for line in script.splitlines():
        if not line or line.startswith("#"):
            continue
        words = tokens(line)
        head = [w for w in words if "=" not in w or w.startswith("[")]
        args = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("["))
        out.append((" ".join(head), args))
    return out


def expected_commands(router, slug: str, servers: str, scheme: str = "http") -> list:
    host = f"{slug}.{get_settings().base_domain}"
    portal = f"{scheme}://{host}/hotspotportal/mikrotik"
    radius = [
        ("/radius add", {
            "service": "hotspot,ppp,dhcp", "address": s.host, "secret": router.secret,
            "src-address": str(router.ip_address), "authentication-port": str(s.auth_port),
            "accounting-port": str(s.acct_port), "timeout": "3s", "comment": "mnetifi",
        })
        for s in parse_radius_servers(servers)
    ]  # fmt: skip
    return [
        ("/radius remove [find comment=mnetifi]", {}),
        *radius,
        ("/radius incoming set", {"accept": "yes", "port": str(router.coa_port)}),
        ("/ip hotspot profile set [find]", {
            "use-radius": "yes", "radius-accounting": "yes", "radius-interim-update": "received",
            "login-by": "http-chap,http-pap,cookie", "radius-mac-format": "XX:XX:XX:XX:XX:XX",
        }),
        ("/ip hotspot walled-garden remove [find comment=mnetifi]", {}),
        ("/ip hotspot walled-garden add", {"dst-host": host, "comment": "mnetifi"}),
        ("/ip hotspot walled-garden ip remove [find comment=mnetifi]", {}),
        ("/ip hotspot walled-garden ip add",
         {"action": "accept", "dst-host": host, "comment": "mnetifi"}),
        ("/tool fetch", {"url": f"{portal}/login.html", "dst-path": "hotspot/login.html"}),
        ("/tool fetch", {"url": f"{portal}/alogin.html", "dst-path": "hotspot/alogin.html"}),
        *expected_subscriber_commands(host),
    ]  # fmt: skip


def expected_subscriber_commands(host: str, pool="expired", listed="expired") -> list:
    """PPPoE on RADIUS; the expired pool, address list and plain-HTTP redirect to /expired."""
    t = {"comment": "mnetifi"}
    return [
        ("/ppp aaa set", {"use-radius": "yes", "accounting": "yes", "interim-update": "0s"}),
        ("/ip pool remove [find comment=mnetifi]", {}),
        ("/ip pool add", {"name": pool, "ranges": "100.64.255.2-100.64.255.254"} | t),
        ("/ip firewall address-list remove [find comment=mnetifi]", {}),
        ("/ip firewall address-list add", {"list": "mnetifi-portal", "address": host} | t),
        ("/ip proxy set", {"enabled": "yes", "port": "8089"}),
        ("/ip proxy access remove [find comment=mnetifi]", {}),
        ("/ip proxy access add", {"dst-host": host, "action": "allow"} | t),
        ("/ip proxy access add", {"action": "redirect", "action-data": f"{host}/expired"} | t),
        ("/ip firewall nat remove [find comment=mnetifi]", {}),
        ("/ip firewall nat add", {
            "chain": "dstnat", "src-address-list": listed, "dst-address-list": "!mnetifi-portal",
            "protocol": "tcp", "dst-port": "80", "action": "redirect", "to-ports": "8089"} | t),
        ("/ip firewall filter remove [find comment=mnetifi]", {}),
        ("/ip firewall filter add", {"chain": "input", "protocol": "tcp", "dst-port": "8089",
                                     "src-address-list": f"!{listed}", "action": "drop"} | t),
        ("/ip firewall filter add", {"chain": "forward", "src-address-list": listed,
                                     "dst-address-list": "mnetifi-portal", "action": "accept"} | t),
        ("/ip firewall filter add", {"chain": "forward", "src-address-list": listed,
                                     "protocol": "udp", "dst-port": "53", "action": "accept"} | t),
        ("/ip firewall filter add", {"chain": "forward", "src-address-list": listed,
                                     "action": "reject", "reject-with": "icmp-admin-prohibited"}
         | t),
    ]  # fmt: skip


def identity_line(script: str) -> str:
    [line] = [x for x in script.splitlines() if x.startswith("# /system identity set name=")]
    return tokens(line.removeprefix("# /system identity set "))[0].split("=", 1)[1]


async def _script(client, router_id: int, headers: dict[str, str]):
    return await client.get(f"{URL}/{router_id}/script", headers=headers)


# ---------------------------------------------------------------- the script
@pytest.mark.usefixtures("two_servers")
async def test_script_has_every_field_of_the_router(client):
    tenant, headers = await make_user_headers(client)
    secret = "Abc?def#ghi;jkl!mno[x]"  # allowed by the API, and special to RouterOS
    router = await make_router(tenant=tenant, secret=secret, coa_port=1700)
    response = await _script(client, router.id, headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"
    script = response.text
    assert commands(script) == expected_commands(router, tenant.slug, SERVERS)
    # As the lines read, for a person comparing with the README.
    assert f'secret="Abc\\?def#ghi;jkl!mno[x]" src-address={router.ip_address} ' in script
    assert "address=10.255.0.2 " in script and "authentication-port=11812 " in script
    assert "/radius incoming set accept=yes port=1700\n" in script
    assert identity_line(script) == router.name
    assert script.isascii() and "\r" not in script
    assert (await _script(client, router.id, headers)).text == script, "not deterministic"


async def test_one_configured_server_is_listed_and_the_script_says_there_is_no_failover(
    client, monkeypatch
):
    settings = get_settings()
    monkeypatch.setattr(settings, "radius_servers", "")
    monkeypatch.setattr(settings, "radius_host", "10.255.9.9")
    tenant, headers = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    script = (await _script(client, router.id, headers)).text
    single = f"10.255.9.9:{settings.radius_auth_port}:{settings.radius_acct_port}"
    assert commands(script) == expected_commands(router, tenant.slug, single)
    assert "no failover" in script


@pytest.mark.usefixtures("two_servers")
async def test_portal_is_https_in_production(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "environment", "production")
    tenant, headers = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    script = (await _script(client, router.id, headers)).text
    assert commands(script) == expected_commands(router, tenant.slug, SERVERS, scheme="https")


@pytest.mark.usefixtures("two_servers")
@pytest.mark.parametrize(
    "name",
    [
        HOSTILE_NAME,
        "a\n/system reset-configuration\n#",
        '$[/system reboot] $x \\" \\ ?',
        "Kahawa Café \u2615 \t tab",
    ],
)
async def test_hostile_name_or_secret_cannot_add_a_command(client, name):
    tenant, headers = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    # The API refuses control characters in names, and quotes, backslashes and $ in secrets;
    # values stored before those rules (or by hand) are still only strings.
    secret = 'ab"c ; /system reset-configuration ; "$x\\?' + "\n/x"
    await sql(
        "UPDATE router SET secret = :s, name = :n WHERE id = :r", s=secret, n=name, r=router.id
    )
    router.secret, router.name = secret, name
    response = await _script(client, router.id, headers)
    assert response.status_code == 200, response.text
    script = response.text
    assert commands(script) == expected_commands(router, tenant.slug, SERVERS)
    assert identity_line(script) == name
    assert not any(line.startswith("/system") for line in script.splitlines())
    assert script.isascii()


def test_quote_escapes_what_routeros_would_interpret():
    assert quote('a"b') == '"a\\"b"'
    assert quote("a\\b") == '"a\\\\b"'
    assert quote("$x $[/system reboot]") == '"\\$x \\$[/system reboot]"'
    assert quote("why?") == '"why\\?"'
    assert quote("a\nb\x7f") == '"a\\0Ab\\7F"'
    assert quote("é") == '"\\C3\\A9"'


def test_radius_servers_setting():
    assert parse_radius_servers("10.255.0.1, 10.255.0.2:21812, [2001:db8::1]:1645:1646") == (
        RadiusServer("10.255.0.1", 1812, 1813),
        RadiusServer("10.255.0.2", 21812, 21813),
        RadiusServer("2001:db8::1", 1645, 1646),
    )
    for bad in ("radius.example.com", "10.0.0.1:0", "10.0.0.1:1812:1813:1", "10.0.0.1:x"):
        with pytest.raises(ValueError, match="10.0.0.1|radius.example.com"):
            parse_radius_servers(bad)


async def test_download_is_audited_without_the_secret(client):
    tenant, headers = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    assert (await _script(client, router.id, headers)).status_code == 200
    [event] = await sql(
        "SELECT * FROM audit_event WHERE tenant_id = :t AND action = 'router.script'",
        t=tenant.id,
    )
    assert (event["object_type"], event["object_id"]) == ("router", str(router.id))
    assert event["details"] == {"name": router.name}
    assert event["actor_id"] is not None
    assert router.secret not in str(dict(event))


async def test_anonymous_is_401(client):
    tenant = await make_tenant()
    router = await make_router(tenant=tenant)
    for url in (f"{URL}/{router.id}/script", f"{URL}/{router.id}/health", f"{URL}/health"):
        assert (await client.get(url)).status_code == 401, url
    assert await count(AuditEvent, tenant_id=tenant.id, action="router.script") == 0


async def test_support_may_not_download_the_secret_but_an_allocated_tech_may(client):
    tenant, support = await make_user_headers(client, role="support")
    tech_user = await make_staff(tenant=tenant, role="tech")
    tech = await login(client, tenant=tenant, staff=tech_user)
    router = await make_router(tenant=tenant)
    response = await _script(client, router.id, support)
    assert response.status_code == 403 and router.secret not in response.text
    response = await _script(client, router.id, tech)  # not allocated: not theirs to see
    assert response.status_code == 404 and router.secret not in response.text
    assert await count(AuditEvent, tenant_id=tenant.id, action="router.script") == 0
    await sql("INSERT INTO staff_router (tenant_id, staff_id, router_id) VALUES (:t, :s, :r)",
              t=tenant.id, s=tech_user.id, r=router.id)  # fmt: skip
    assert (await _script(client, router.id, tech)).status_code == 200
    assert await count(AuditEvent, tenant_id=tenant.id, action="router.script") == 1


async def test_other_isps_router_is_404_and_nothing_is_audited(client):
    tenant_a = await make_tenant()
    router = await make_router(tenant=tenant_a)
    tenant_b, headers_b = await make_user_headers(client)
    for url in (
        f"{URL}/{router.id}/script",
        f"{URL}/{router.id}/health",
        f"{URL}/999999999/script",
    ):
        response = await client.get(url, headers=headers_b)
        assert response.status_code == 404, url
        assert router.secret not in response.text
    for tenant in (tenant_a, tenant_b):
        assert await count(AuditEvent, tenant_id=tenant.id, action="router.script") == 0


# ---------------------------------------------------------------- health
def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _ip(router) -> str:
    return str(router.ip_address)


async def _session(tenant_id: int, router, *, start: datetime, last: datetime | None = None,
                   stop: datetime | None = None, username: str = "USER1",
                   mac: str = "AA:BB:CC:DD:EE:01") -> None:  # fmt: skip
    """A session at `router` started at `start`, updated at `last` and/or stopped at `stop`."""
    common = {"tenant_id": tenant_id, "nas": _ip(router), "username": username, "mac": mac,
              "unique": secrets.token_hex(8)}  # fmt: skip
    await accounting(kind="start", at=start, **common)
    if last is not None:
        seconds = int((last - start).total_seconds())
        await accounting(kind="interim-update", at=last, session_time=seconds, **common)
    if stop is not None:
        seconds = int((stop - start).total_seconds())
        await accounting(kind="stop", at=stop, session_time=seconds, cause="User-Request",
                         **common)  # fmt: skip


async def _coa(tenant_id: int, router_id: int, kind: str, status: str, age: int, **extra) -> int:
    [row] = await sql(
        """INSERT INTO coa_request (tenant_id, router_id, kind, reason, attributes, status,
                                    error_cause, detail, attempts, created_at, finished_at)
           VALUES (:t, :r, :kind, 'admin', '{}', :status, :cause, :detail, :attempts,
                   now() - make_interval(secs => :age),
                   CASE WHEN :status <> 'pending' THEN now() - make_interval(secs => :age) END)
           RETURNING id""",
        t=tenant_id, r=router_id, kind=kind, status=status, age=age,
        cause=extra.get("error_cause"), detail=extra.get("detail"),
        attempts=extra.get("attempts", 1),
    )  # fmt: skip
    return int(row["id"])


async def _health(client, headers, router_id=None):
    url = f"{URL}/health" if router_id is None else f"{URL}/{router_id}/health"
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def test_health_of_routers_online_idle_silent_and_never_seen(client):
    tenant, headers = await make_user_headers(client, role="admin")
    online, idle, silent, never = [
        await make_router(tenant=tenant, name=n)
        for n in ("a-online", "b-idle", "c-silent", "d-new")
    ]
    t, now, s = tenant.id, _now(), timedelta(seconds=1)
    # online: two live sessions, a ghost (open, not updated for an hour), a closed one
    await _session(t, online, start=now - 600 * s, last=now - 30 * s, mac="AA:00:00:00:00:01")
    await _session(t, online, start=now - 900 * s, last=now - 5 * s, mac="AA:00:00:00:00:02")
    await _session(t, online, start=now - 7200 * s, last=now - 3600 * s, mac="AA:00:00:00:00:03")
    await _session(t, online, start=now - 8000 * s, stop=now - 7000 * s, mac="AA:00:00:00:00:04")
    await _session(t, idle, start=now - 4 * 3600 * s, stop=now - 3 * 3600 * s, username="USER2")
    await _session(t, silent, start=now - 3 * 86400 * s, stop=now - 2 * 86400 * s,
                   username="USER3")  # fmt: skip

    listed = await _health(client, headers)
    by_id = {h["id"]: h for h in listed}
    assert [h["id"] for h in listed] == [online.id, idle.id, silent.id, never.id]
    assert by_id[online.id] == {
        "id": online.id, "name": "a-online", "ip_address": _ip(online), "enabled": True,
        "status": "online", "last_accounting_at": by_id[online.id]["last_accounting_at"],
        "active_sessions": 2, "last_coa": None,
    }  # fmt: skip
    expected = [
        (online, "online", 2, now - 5 * s),
        (idle, "idle", 0, now - 3 * 3600 * s),
        (silent, "silent", 0, now - 2 * 86400 * s),
        (never, "silent", 0, None),
    ]
    for router, status, active, last in expected:
        health = by_id[router.id]
        assert (health["status"], health["active_sessions"]) == (status, active), router.name
        assert _at(health["last_accounting_at"]) == last, router.name
        assert health["last_coa"] is None
        assert await _health(client, headers, router.id) == health


async def test_online_window_follows_the_isps_interim_interval(client):
    tenant, headers = await make_user_headers(client)
    await sql("UPDATE tenant SET acct_interim_interval = 60 WHERE id = :t", t=tenant.id)
    recent, late = await make_router(tenant=tenant), await make_router(tenant=tenant)
    now, s = _now(), timedelta(seconds=1)
    # grace = 2 x 60 + 60 = 180 s
    await _session(tenant.id, recent, start=now - 600 * s, last=now - 120 * s)
    await _session(tenant.id, late, start=now - 600 * s, last=now - 240 * s, username="USER2")
    health = await _health(client, headers, recent.id)
    assert (health["status"], health["active_sessions"]) == ("online", 1)
    health = await _health(client, headers, late.id)
    assert (health["status"], health["active_sessions"]) == ("idle", 0)
    assert _at(health["last_accounting_at"]) == now - 240 * s


async def test_a_device_moving_to_another_router_does_not_date_the_first_by_the_second(client):
    """The second router's Start closes the device's session on the first ('Superseded') and
    stamps it with the second router's packet time; the first router last spoke at its own
    interim update."""
    tenant, headers = await make_user_headers(client)
    first, second = await make_router(tenant=tenant), await make_router(tenant=tenant)
    now, s = _now(), timedelta(seconds=1)
    await _session(tenant.id, first, start=now - 7200 * s, last=now - 300 * s)
    await _session(tenant.id, second, start=now - 10 * s)
    [closed] = await sql(
        "SELECT acctterminatecause, acctupdatetime FROM radacct "
        "WHERE tenant_id = :t AND nasipaddress = CAST(:ip AS inet)",
        t=tenant.id, ip=_ip(first),
    )  # fmt: skip
    assert (closed["acctterminatecause"], closed["acctupdatetime"]) == ("Superseded", now - 10 * s)
    health = await _health(client, headers, first.id)
    assert _at(health["last_accounting_at"]) == now - 300 * s
    assert health["active_sessions"] == 0
    health = await _health(client, headers, second.id)
    assert (health["status"], health["active_sessions"]) == ("online", 1)
    assert _at(health["last_accounting_at"]) == now - 10 * s


@pytest.mark.parametrize("moved", [3, 101])
async def test_sessions_that_moved_away_count_at_their_own_last_interim(client, moved):
    """Sessions superseded by another router's Start rank first by their update time (the
    other router's packet) but count at start + their time; among the top sessions (3), or
    all of them (101: past the 100 the health reads first), the latest of those wins over an
    older session that ended here."""
    tenant, headers = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    now, s = _now(), timedelta(seconds=1)
    await _session(tenant.id, router, start=now - 7200 * s, stop=now - 600 * s)
    await sql(
        """INSERT INTO radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress,
                                acctstarttime, acctupdatetime, acctstoptime, acctsessiontime,
                                acctterminatecause)
           SELECT :t, 'moved' || n, md5(random()::text), 'MOVED' || n, CAST(:ip AS inet),
                  CAST(:now AS timestamptz) - interval '3000 seconds',
                  CAST(:now AS timestamptz) - interval '10 seconds',
                  CAST(:now AS timestamptz) - interval '10 seconds', 2700 - 100 * (n % 3),
                  'Superseded'
             FROM generate_series(1, :moved) AS n""",
        t=tenant.id, ip=_ip(router), now=now, moved=moved,
    )  # fmt: skip
    health = await _health(client, headers, router.id)
    assert _at(health["last_accounting_at"]) == now - 300 * s


async def test_last_coa_is_the_latest_settled_answer(client):
    tenant, headers = await make_user_headers(client)
    router, other = await make_router(tenant=tenant), await make_router(tenant=tenant)
    await _coa(tenant.id, router.id, "coa", "ack", 300)
    nak = await _coa(tenant.id, router.id, "disconnect", "nak", 60, error_cause=503,
                     detail="session not found", attempts=1)  # fmt: skip
    await _coa(tenant.id, router.id, "coa", "pending", 1)
    await _coa(tenant.id, other.id, "coa", "timeout", 10, attempts=3)
    last = (await _health(client, headers, router.id))["last_coa"]
    assert {k: last[k] for k in ("id", "kind", "status", "error_cause", "detail", "attempts")} == {
        "id": nak, "kind": "disconnect", "status": "nak", "error_cause": 503,
        "detail": "session not found", "attempts": 1,
    }  # fmt: skip
    assert _at(last["finished_at"]) is not None and _at(last["created_at"]) is not None
    other_last = (await _health(client, headers, other.id))["last_coa"]
    assert (other_last["status"], other_last["attempts"]) == ("timeout", 3)


async def test_health_is_scoped_to_the_isp(client):
    tenant_a, headers_a = await make_user_headers(client)
    tenant_b, headers_b = await make_user_headers(client)
    router_a = await make_router(tenant=tenant_a)
    router_b = await make_router(tenant=tenant_b)
    # Sessions another ISP recorded at A's router's address (a router that changed hands), and
    # a CoA answer of B's: neither is A's router's.
    now = _now()
    await _session(tenant_b.id, router_a, start=now - timedelta(seconds=60), last=now)
    await _coa(tenant_b.id, router_b.id, "coa", "ack", 5)
    health_a = await _health(client, headers_a, router_a.id)
    assert (health_a["status"], health_a["active_sessions"], health_a["last_accounting_at"]) == (
        "silent", 0, None,
    )  # fmt: skip
    assert [h["id"] for h in await _health(client, headers_a)] == [router_a.id]
    assert [h["id"] for h in await _health(client, headers_b)] == [router_b.id]
    response = await client.get(f"{URL}/{router_a.id}/health", headers=headers_b)
    assert response.status_code == 404
