"""The messages page: what customers are told and when. The ISP's limits (the usage threshold,
minutes before expiry, the daily cap per recipient, the country prefixes), its rule for each
event (on or off, its own wording in English and Swahili, placeholders listed), and the latest
notifications with what became of each (sent by SMS, or skipped and why). Changes go through
the services the JSON API uses, which audit them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.admin import language
from api.admin.guard import require_page
from api.admin.web import Isp, acted, form_token, render, validated
from api.deps import ClientMeta, SessionDep
from api.errors import AppError
from api.models import Tenant
from api.notifications import rules, service, templates
from api.notifications.schemas import RuleIn
from api.permissions import P
from api.settings import service as settings
from api.settings.schemas import SettingsUpdate
from api.tenancy import Principal, allowed

router = APIRouter(prefix="/admin", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_page(P.SETTINGS_READ))]
Writer = Annotated[Principal, Depends(require_page(P.SETTINGS_WRITE))]
LIMITS = ("usage_warning_percent", "expiry_warning_minutes", "message_daily_cap",
          "message_prefixes", "message_rate_per_minute")  # fmt: skip


async def _page(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, typed: dict[str, Any] | None = None,
) -> HTMLResponse:  # fmt: skip
    gettext = language.translator(language.chosen(request))
    return render(
        request, "messages.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), limits=await settings.get_settings(session, principal),
        rules=await rules.rules(session, principal),
        recent=await service.recent(session, principal, 30, None),
        # What each event is, in the person's language (EVENTS' English is the catalogue's key).
        events={event: gettext(text) for event, text in templates.EVENTS.items()},
        placeholders=templates.PLACEHOLDERS, can_write=allowed(principal, P.SETTINGS_WRITE),
        can_offer=allowed(principal, P.OFFERS),
        typed=typed or {},
    )  # fmt: skip


@router.get("/messages")
async def messages_page(
    request: Request, isp: Isp, principal: Reader, session: SessionDep
) -> Response:
    return await _page(request, isp, principal, session)


@router.post("/messages/limits")
async def save_limits(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    usage_warning_percent: Annotated[str, Form(max_length=6)] = "",
    expiry_warning_minutes: Annotated[str, Form(max_length=6)] = "",
    message_daily_cap: Annotated[str, Form(max_length=6)] = "",
    message_prefixes: Annotated[str, Form(max_length=80)] = "",
    message_rate_per_minute: Annotated[str, Form(max_length=6)] = "",
) -> Response:  # fmt: skip
    typed = {"usage_warning_percent": usage_warning_percent,
             "expiry_warning_minutes": expiry_warning_minutes,
             "message_daily_cap": message_daily_cap,
             "message_prefixes": message_prefixes.replace(" ", ""),
             "message_rate_per_minute": message_rate_per_minute}  # fmt: skip

    async def save() -> None:
        body = validated(SettingsUpdate, {k: v.strip() for k, v in typed.items()})
        await settings.update_settings(session, principal, body, meta)

    async def refused(exc: AppError) -> Response:
        return await _page(
            request, isp, principal, session, status=exc.status_code, error=exc.detail,
            typed={"limits": typed},
        )  # fmt: skip

    return await acted(session, save, refused, "/admin/messages?flash=settings")


@router.post("/messages/rules")
async def save_rule(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    event: Annotated[str, Form(max_length=40)] = "",
    enabled: Annotated[str, Form(max_length=3)] = "",
    template_en: Annotated[str, Form(max_length=640)] = "",
    template_sw: Annotated[str, Form(max_length=640)] = "",
) -> Response:  # fmt: skip
    typed = {"template_en": template_en, "template_sw": template_sw}

    async def save() -> None:
        # The page changes no channel: a staff alert stays by e-mail (RuleIn's default is SMS).
        kept = (
            (await rules.rule_for(session, principal.tenant_id, event)).channels
            if event in templates.EVENTS else ["sms"]
        )  # fmt: skip
        body = validated(RuleIn, {
            "enabled": enabled == "on",
            "channels": kept,
            # Unchanged default wording is stored as none, so a better default reaches it.
            "template_en": _own(template_en, templates.DEFAULTS.get(event, {}).get("en")),
            "template_sw": _own(template_sw, templates.DEFAULTS.get(event, {}).get("sw")),
        })  # fmt: skip
        await rules.save(session, principal, event, body, meta)

    async def refused(exc: AppError) -> Response:
        return await _page(
            request, isp, principal, session, status=exc.status_code, error=exc.detail,
            typed={"rule": event, **typed},
        )  # fmt: skip

    return await acted(session, save, refused, f"/admin/messages?flash=rule#rule-{event}")


def _own(text: str, default: str | None) -> str | None:
    text = " ".join(text.split())
    return None if not text or text == default else text
