"""Control API of the fake Daraja (test only, under /__fake__): script scenarios, change settings,
add apps, and inspect what was received and delivered. Documented in `deploy.fakes.daraja`."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from deploy.fakes.daraja_state import MAGIC_PHONES, SCENARIOS, App, Config, Shortcode, state

router = APIRouter(prefix="/__fake__")


class ScenarioIn(BaseModel):
    phone: str
    scenario: str
    params: dict[str, int] = {}
    once: bool = False


class ShortcodeIn(BaseModel):
    shortcode: str
    type: str = "paybill"
    passkey: str
    tills: list[str] = []


class AppIn(BaseModel):
    consumer_key: str
    consumer_secret: str
    shortcodes: list[ShortcodeIn]


@router.post("/scenario")
async def set_scenario(item: ScenarioIn) -> dict[str, Any]:
    if item.scenario not in SCENARIOS:
        raise HTTPException(422, f"unknown scenario; one of {sorted(SCENARIOS)}")
    state.scenario_by_phone[item.phone] = item.model_dump()
    return item.model_dump()


@router.get("/scenarios")
async def list_scenarios() -> dict[str, Any]:
    return {
        "scenarios": sorted(SCENARIOS),
        "magic_phones": MAGIC_PHONES,
        "by_phone": state.scenario_by_phone,
    }


@router.post("/config")
async def set_config(changes: dict[str, Any]) -> dict[str, Any]:
    known = {f.name for f in fields(Config)}
    unknown = set(changes) - known
    if unknown:
        raise HTTPException(422, f"unknown settings {sorted(unknown)}")
    state.config = Config(**{**asdict(state.config), **changes})
    return asdict(state.config)


@router.post("/apps")
async def add_app(item: AppIn) -> dict[str, str]:
    codes = {
        s.shortcode: Shortcode(s.shortcode, s.type, s.passkey, list(s.tills))
        for s in item.shortcodes
    }
    state.apps[item.consumer_key] = App(item.consumer_key, item.consumer_secret, codes)
    return {"consumer_key": item.consumer_key}


@router.get("/requests")
async def list_requests() -> list[dict[str, Any]]:
    return state.requests


@router.get("/callbacks")
async def list_callbacks() -> list[dict[str, Any]]:
    return state.callbacks


@router.get("/transactions")
async def list_transactions() -> list[dict[str, Any]]:
    return [
        {**asdict(tx), "pending": tx.result is None, "result": tx.result}
        for tx in state.transactions.values()
    ]


@router.post("/reset")
async def reset() -> dict[str, bool]:
    state.reset()
    return {"reset": True}


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
