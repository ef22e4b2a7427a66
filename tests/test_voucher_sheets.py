"""Voucher sheets of big batches: served a page at a time, made in a worker process so the
portal keeps answering while one is produced."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from api import cpu
from api.hotspot.service import CARDS_PER_PAGE
from tests.factories import make_user_headers
from tests.payshop import make_shop, shop_tenant

BIG = 10_000
ROOT = Path(__file__).resolve().parents[1]


async def test_a_big_sheet_comes_in_pages_while_the_portal_keeps_answering(client):
    shop = await make_shop(price=30)
    _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
    made = await client.post(
        "/api/v1/vouchers/batches", headers=headers, json={"plan_id": shop.plan_id, "count": BIG}
    )
    assert made.status_code == 201, made.text
    url = f"/api/v1/vouchers/batches/{made.json()['batch_id']}/sheet"
    sheet = asyncio.create_task(client.get(url, headers=headers))
    for _ in range(2000):  # until the sheet's page is in the hands of a worker process
        if cpu.admitted() or sheet.done():
            break
        await asyncio.sleep(0.01)
    assert cpu.admitted() == 1 and not sheet.done()
    answered = 0
    while not sheet.done():  # the portal, on the same event loop, while the QR codes are made
        plans = await client.get("/api/v1/portal/plans", headers=shop.host)
        assert plans.status_code == 200 and plans.json()[0]["price"] == 30
        answered += 1
    first = sheet.result()
    assert first.status_code == 200, first.text
    # On the event loop the QR codes would have held every portal request until the end.
    assert answered >= 25, answered
    assert first.text.count('class="card voucher"') == CARDS_PER_PAGE
    assert first.text.count("<svg") == CARDS_PER_PAGE
    assert cpu.admitted() == 0
    pages = -(-BIG // CARDS_PER_PAGE)
    assert f"Page 1 of {pages}" in first.text and 'rel="next"' in first.headers["link"]
    last = await client.get(url, headers=headers, params={"page": pages})
    assert last.text.count('class="card voucher"') == BIG - (pages - 1) * CARDS_PER_PAGE
    assert 'rel="prev"' in last.headers["link"] and 'rel="next"' not in last.headers["link"]
    beyond = await client.get(url, headers=headers, params={"page": pages + 1})
    assert beyond.status_code == 404 and str(pages) in beyond.json()["detail"]
    assert (await client.get(url, headers=headers, params={"page": 0})).status_code == 422


async def test_sheets_beyond_the_queue_are_refused_not_piled_up(client, monkeypatch):
    shop = await make_shop(price=30)
    _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
    made = await client.post(
        "/api/v1/vouchers/batches", headers=headers, json={"plan_id": shop.plan_id, "count": 30}
    )
    url = f"/api/v1/vouchers/batches/{made.json()['batch_id']}/sheet"
    monkeypatch.setattr(cpu._gate, "admitted", 5)  # as if cpu_processes + cpu_queue calls were in
    busy = await client.get(url, headers=headers)
    assert busy.status_code == 429 and busy.headers["retry-after"]
    monkeypatch.setattr(cpu._gate, "admitted", 0)
    assert (await client.get(url, headers=headers)).status_code == 200


async def test_sheet_workers_leave_with_a_killed_api(tmp_path):
    # The worker's pid goes through a file: a pipe would be inherited by the worker too.
    script = (
        "import asyncio, os, pathlib, sys, time\n"
        "from api import cpu\n"
        "pathlib.Path(sys.argv[1]).write_text(str(asyncio.run(cpu.run(os.getpid))))\n"
        "time.sleep(60)\n"
    )
    out = tmp_path / "worker.pid"
    api = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(out), cwd=ROOT)
    for _ in range(400):  # the worker process starts (bounded wait)
        if _read(out):
            break
        await asyncio.sleep(0.05)
    worker = int(_read(out))
    assert _alive(worker)
    api.kill()  # as kill -9 or the OOM killer would: no clean shutdown of the pool
    await api.wait()
    for _ in range(100):  # the worker notices on its own (bounded wait)
        if not _alive(worker):
            break
        await asyncio.sleep(0.05)
    alive = _alive(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)  # leave nothing behind, then fail
    assert not alive


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _alive(pid: int) -> bool:
    """Running, not gone nor a zombie waiting for init to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
