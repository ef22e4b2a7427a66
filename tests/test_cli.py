"""The `mnetifi` console script, run as operators run it: a subprocess with MNETIFI_* env."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.models import AuditEvent, Voucher
from tests.factories import accounting, count, random_ip
from tests.radius.conftest import sql

MNETIFI = Path(sys.executable).parent / "mnetifi"
CODE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}$")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k.startswith("MNETIFI_") or k == "PATH"}
    return subprocess.run(
        [str(MNETIFI), *args], env=env, capture_output=True, text=True, timeout=60
    )


def ok(*args: str) -> str:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fields(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines())


def create_tenant() -> dict[str, str]:
    slug = "cli" + secrets.token_hex(4)
    out = ok(
        "tenant", "create", "--slug", slug, "--name", "Demo ISP",
        "--admin-email", f"admin@{slug}.example", "--admin-password", "long enough pw",
    )  # fmt: skip
    return fields(out)


async def test_full_operator_flow():
    tenant = create_tenant()
    slug = tenant["slug"]
    assert fields(ok("tenant", "show", slug)) == tenant

    router = fields(ok("router", "add", "--tenant", slug, "--name", "r1", "--ip", random_ip()))
    assert router["id"].isdigit() and len(router["secret"]) == 24

    ok(
        "plan", "add", "--tenant", slug, "--name", "1 Hour", "--price", "10",
        "--duration", "1h", "--up", "2M", "--down", "4M", "--data", "1GB", "--time", "30m",
    )  # fmt: skip

    out = ok("vouchers", "generate", "--tenant", slug, "--plan", "1 Hour", "--count", "10")
    codes = out.splitlines()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(CODE.match(code) for code in codes)

    listed = ok("vouchers", "list", "--tenant", slug, "--status", "unused", "--limit", "5")
    assert len(listed.splitlines()) == 5 and set(listed.splitlines()) <= set(codes)

    shown = fields(ok("voucher", "show", "--tenant", slug, codes[0].lower()))
    assert shown["code"] == codes[0] and shown["plan"] == "1 Hour"
    assert shown["status"] == "unused" and shown["first_used_at"] == "-"

    tenant_id = int(tenant["id"])
    assert await count(Voucher, tenant_id=tenant_id) == 10
    assert await count(AuditEvent, tenant_id=tenant_id, actor="cli") >= 5


def test_unknown_tenant_is_exit_1_without_traceback():
    result = run("router", "add", "--tenant", "no-such-isp", "--name", "r1", "--ip", random_ip())
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "mnetifi: error: No tenant with slug 'no-such-isp'"
    assert run("tenant", "show", "no-such-isp").returncode == 1


def test_domain_errors_are_one_line():
    slug = create_tenant()["slug"]
    cases = [
        ("tenant", "create", "--slug", slug, "--name", "x", "--admin-email", "a@b.example",
         "--admin-password", "long enough pw"),
        ("tenant", "create", "--slug", "Bad Slug", "--name", "x", "--admin-email", "a@b.example",
         "--admin-password", "long enough pw"),
        ("tenant", "create", "--slug", "cli" + secrets.token_hex(4), "--name", "x",
         "--admin-email", "a@b.example", "--admin-password", "short"),
        ("plan", "add", "--tenant", slug, "--name", "p", "--price", "10", "--duration", "1y",
         "--up", "2M", "--down", "4M"),
        ("vouchers", "generate", "--tenant", slug, "--plan", "missing", "--count", "10"),
        ("router", "add", "--tenant", slug, "--name", "r", "--ip", "10.0.0.0/8"),
        ("voucher", "show", "--tenant", slug, "ZZZZZZZZ"),
    ]  # fmt: skip
    for args in cases:
        result = run(*args)
        assert result.returncode == 1, args
        assert "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("mnetifi: error: ")


async def test_voucher_state_revoke_sessions_and_settings():
    tenant = create_tenant()
    slug, tenant_id = tenant["slug"], int(tenant["id"])
    ip = random_ip()
    ok("router", "add", "--tenant", slug, "--name", "r1", "--ip", ip)
    ok(
        "plan", "add", "--tenant", slug, "--name", "1 Day", "--price", "50",
        "--duration", "1d", "--up", "2M", "--down", "4M", "--data", "1GB",
    )  # fmt: skip
    live_code, old_code = ok(
        "vouchers", "generate", "--tenant", slug, "--plan", "1 Day", "--count", "2"
    ).split()
    for kind in ("start", "interim-update"):
        await accounting(
            kind=kind, tenant_id=tenant_id, nas=ip, username=live_code, unique=f"{slug}-live",
            session_time=0 if kind == "start" else 60, bytes_in=1000, bytes_out=4000,
        )  # fmt: skip
    await accounting(
        kind="stop", tenant_id=tenant_id, nas=ip, username=old_code, unique=f"{slug}-old",
        at=datetime.now(UTC) - timedelta(hours=1), session_time=120, cause="User-Request",
    )  # fmt: skip

    shown = fields(ok("voucher", "show", "--tenant", slug, live_code))
    assert shown["state"] == "unused" and shown["reason"] == "-"
    assert shown["used_bytes"] == "5000" and shown["bytes_left"] == str(10**9 - 5000)
    assert shown["device_limit"] == "1" and shown["rate_limit"] == "2M/4M"

    live = ok("sessions", "--tenant", slug).splitlines()
    header = live[0].split("\t")
    assert header[:3] == ["id", "voucher", "mac"]
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in live[1:]]
    assert [(r["voucher"], r["router"], r["bytes_out"], r["live"]) for r in rows] == [
        (live_code, "r1", "4000", "yes")
    ]
    every = ok("sessions", "--tenant", slug, "--all").splitlines()[1:]
    assert [line.split("\t")[1] for line in every] == [live_code, old_code]

    revoked = fields(ok("voucher", "revoke", "--tenant", slug, live_code.lower()))
    assert (revoked["status"], revoked["state"]) == ("revoked", "revoked")
    assert revoked["reason"] == "Voucher revoked"
    assert fields(ok("voucher", "revoke", "--tenant", slug, live_code))["state"] == "revoked"
    assert await count(AuditEvent, tenant_id=tenant_id, action="voucher.revoke") == 1

    shown = fields(ok("settings", "--tenant", slug))
    assert (shown["unused_voucher_days"], shown["acct_interim_interval"]) == ("30", "300")
    assert (shown["usage_warning_percent"], shown["message_prefixes"]) == ("90", "+254")
    changed = ok("settings", "--tenant", slug, "--unused-voucher-days", "7")
    assert fields(changed)["unused_voucher_days"] == "7"
    assert await count(AuditEvent, tenant_id=tenant_id, action="settings.update", actor="cli") == 1


def test_new_commands_refuse_bad_input_in_one_line():
    slug = create_tenant()["slug"]
    cases = [
        ("settings", "--tenant", slug, "--unused-voucher-days", "0"),
        ("settings", "--tenant", slug, "--acct-interim-interval", "30"),
        ("voucher", "revoke", "--tenant", slug, "ZZZZZZZZ"),
        ("sessions", "--tenant", slug, "--limit", "0"),
        ("sessions", "--tenant", "no-such-isp"),
    ]
    for args in cases:
        result = run(*args)
        assert result.returncode == 1, args
        assert result.stdout == "" and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("mnetifi: error: ")
    assert fields(ok("settings", "--tenant", slug))["unused_voucher_days"] == "30"


async def test_staff_commands():
    tenant = create_tenant()
    slug = tenant["slug"]
    owner = f"admin@{slug}.example"
    router = fields(ok("router", "add", "--tenant", slug, "--name", "r1", "--ip", random_ip()))
    tech = fields(ok("staff", "add", "--tenant", slug, "--email", f"tech@{slug}.example",
                     "--role", "tech", "--password", "long enough pw"))  # fmt: skip
    assert tech["role"] == "tech"
    ok("staff", "routers", "--tenant", slug, tech["email"], router["id"])
    lines = ok("staff", "list", "--tenant", slug).splitlines()
    assert f"{tech['id']}\t{tech['email']}\ttech\tactive\t{router['id']}" in lines
    refused = run("staff", "routers", "--tenant", slug, tech["email"], "999999999")
    assert refused.returncode == 1 and "No router of this ISP has id 999999999" in refused.stderr
    last = run("staff", "role", "--tenant", slug, owner, "admin")
    assert last.returncode == 1 and "last active owner" in last.stderr
    assert (
        ok("staff", "role", "--tenant", slug, tech["email"], "support").strip().endswith("support")
    )
    ok("staff", "deactivate", "--tenant", slug, tech["email"])
    assert (
        f"{tech['id']}\t{tech['email']}\tsupport\tinactive\t{router['id']}"
        in ok("staff", "list", "--tenant", slug).splitlines()
    )
    operator = fields(ok("operator", "add", "--email", f"op@{slug}.example",
                         "--password", "long enough pw"))  # fmt: skip
    assert operator["email"] == f"op@{slug}.example"


def add_router(slug: str, name: str = "r1") -> dict[str, str]:
    return fields(ok("router", "add", "--tenant", slug, "--name", name, "--ip", random_ip()))


async def router_row(router_id: str) -> dict:
    [row] = await sql("SELECT * FROM router WHERE id = :r", r=int(router_id))
    return dict(row)


async def test_router_list_show_edit_remove():
    tenant = create_tenant()
    slug, tenant_id = tenant["slug"], int(tenant["id"])
    added = add_router(slug)
    ip = str((await router_row(added["id"]))["ip_address"])

    listed = ok("router", "list", "--tenant", slug).splitlines()
    assert listed[0].split("\t") == [
        "id", "name", "ip_address", "coa_port", "nas_identifier", "enabled", "created_at"
    ]  # fmt: skip
    assert listed[1].split("\t")[:6] == [added["id"], "r1", ip, "3799", "-", "yes"]
    assert len(listed) == 2 and added["secret"] not in "\n".join(listed)

    shown = fields(ok("router", "show", "--tenant", slug, added["id"]))
    assert (shown["id"], shown["name"], shown["ip_address"]) == (added["id"], "r1", ip)
    assert "secret" not in shown and added["secret"] not in str(shown)
    revealed = fields(ok("router", "show", "--tenant", slug, added["id"], "--show-secret"))
    assert revealed["secret"] == added["secret"]
    assert "RADIUS shared secret" in revealed["note"]

    new_ip = random_ip()
    edited = fields(ok("router", "edit", "--tenant", slug, added["id"], "--name", "site-b",
                       "--ip", new_ip, "--coa-port", "1700", "--nas-identifier", "hs-b",
                       "--disable"))  # fmt: skip
    assert {k: edited[k] for k in ("name", "ip_address", "coa_port", "nas_identifier")} == {
        "name": "site-b", "ip_address": new_ip, "coa_port": "1700", "nas_identifier": "hs-b"
    }  # fmt: skip
    assert edited["enabled"] == "no" and "secret" not in edited
    new_secret = "N3w-secret-" + secrets.token_hex(8)
    rotated = fields(ok("router", "edit", "--tenant", slug, added["id"], "--secret", new_secret,
                        "--no-nas-identifier", "--enable"))  # fmt: skip
    assert rotated["secret"].startswith("changed") and new_secret not in str(rotated)
    assert (rotated["nas_identifier"], rotated["enabled"]) == ("-", "yes")
    row = await router_row(added["id"])
    assert (row["secret"], row["name"], row["coa_port"]) == (new_secret, "site-b", 1700)

    removed = ok("router", "remove", "--tenant", slug, added["id"], "--yes")
    assert removed.strip() == f"removed router {added['id']} (site-b, {new_ip})"
    assert ok("router", "list", "--tenant", slug).splitlines()[1:] == []
    for action in ("router.create", "router.update", "router.secret_rotate", "router.delete"):
        assert await count(AuditEvent, tenant_id=tenant_id, action=action, actor="cli") == 1


def refused(*args: str) -> str:
    """A refusal: exit 1, nothing on stdout, one sentence on stderr, no traceback."""
    result = run(*args)
    assert result.returncode == 1, (args, result.stdout)
    assert result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("mnetifi: error: "), result.stderr
    return result.stderr.removeprefix("mnetifi: error: ").strip()


async def test_router_commands_refuse_bad_input_and_change_nothing():
    tenant = create_tenant()
    slug, tenant_id = tenant["slug"], int(tenant["id"])
    mine = add_router(slug)["id"]
    other_slug = create_tenant()["slug"]
    theirs = add_router(other_slug)["id"]
    their_ip = str((await router_row(theirs))["ip_address"])
    before = {r: await router_row(r) for r in (mine, theirs)}
    audited = await count(AuditEvent, tenant_id=tenant_id)

    for router_id in ("999999999", theirs):  # unknown, and another ISP's
        for args in (("show", router_id, "--show-secret"), ("edit", router_id, "--name", "x"),
                     ("remove", router_id, "--yes"), ("remove", router_id)):  # fmt: skip
            assert refused("router", args[0], "--tenant", slug, *args[1:]) == "Router not found"
    assert "--yes" in refused("router", "remove", "--tenant", slug, mine)
    assert "whole number" in refused("router", "show", "--tenant", slug, "abc")
    assert "whole number" in refused(
        "router", "edit", "--tenant", slug, "99999999999", "--name", "x"
    )
    assert "nothing to change" in refused("router", "edit", "--tenant", slug, mine)
    bad_values = {
        ("--ip", "10.0.0.0/8"): "ip_address",
        ("--ip", "router.example"): "ip_address",
        ("--ip", their_ip): "This IP address cannot be used",
        ("--coa-port", "70000"): "coa_port",
        ("--coa-port", "abc"): "coa_port",
        ("--secret", "short"): "secret",
        ("--secret", "has $ and spaces in it"): "secret",
        ("--name", ""): "name",
        ("--nas-identifier", "x" * 254): "nas_identifier",
    }
    for option, named in bad_values.items():
        assert named in refused("router", "edit", "--tenant", slug, mine, *option), option
    assert "No tenant" in refused("router", "list", "--tenant", "no-such-isp")

    assert {r: await router_row(r) for r in (mine, theirs)} == before
    assert await count(AuditEvent, tenant_id=tenant_id) == audited
