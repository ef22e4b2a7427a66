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

    assert fields(ok("settings", "--tenant", slug)) == {
        "unused_voucher_days": "30",
        "acct_interim_interval": "300",
    }
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
