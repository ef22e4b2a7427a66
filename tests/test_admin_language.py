"""The dashboard in English and Kiswahili (issue 14): the catalogue in step with the templates
(every marked text translated, nothing left over, the same placeholders), the language a
browser gets (its cookie, else its Accept-Language, else English), and the switch's cookie and
its way back (this site's dashboard only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import Environment
from jinja2.ext import extract_from_ast

from api.admin import language
from api.admin.web import FLASHES, SECTIONS
from api.notifications.templates import EVENTS
from tests.factories import PASSWORD, make_staff, make_tenant
from tests.test_staff_login import _from

TEMPLATES = Path(language.__file__).resolve().parent / "templates"
SW = language.CATALOGUES["sw"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _marked() -> dict[str, str]:
    """Every text a template marks with _(), and where; a _() of anything but a literal fails
    (it could not be in the catalogue)."""
    found: dict[str, str] = {}
    env = Environment()
    for path in sorted(TEMPLATES.glob("*.html")):
        for line, _, args in extract_from_ast(env.parse(path.read_text()), ("_",)):
            # One argument: the text; with values (keywords) a tuple, the text first.
            text = args[0] if isinstance(args, tuple) else args
            assert isinstance(text, str), f"{path.name}:{line}: _() of a literal string only"
            found.setdefault(text, f"{path.name}:{line}")
    return found


def _used() -> set[str]:
    return (
        set(_marked())
        | {text for _, text in FLASHES.values()}
        | {label for _, label, _ in SECTIONS}
        | set(EVENTS.values())  # the messages page's rules, translated in api/admin/messages.py
    )


def test_every_marked_text_has_its_swahili():
    missing = {text: where for text, where in _marked().items() if text not in SW}
    missing |= {text: "web.py" for text in _used() - set(SW) if text not in missing}
    assert not missing, missing


def test_the_catalogue_holds_nothing_no_page_uses():
    assert not set(SW) - _used(), sorted(set(SW) - _used())


def test_the_scan_finds_the_marks():
    marked = _marked()
    assert "Sign in to %(isp)s" in marked and marked["Sign in"].startswith("login.html")
    assert "Can't scan? Type this key:" in marked  # a quote inside the text


@pytest.mark.parametrize("english", sorted(SW))
def test_a_translation_keeps_the_placeholders(english):
    swahili = SW[english]
    assert swahili.strip(), english
    assert sorted(PLACEHOLDER.findall(swahili)) == sorted(PLACEHOLDER.findall(english))
    values = dict.fromkeys(PLACEHOLDER.findall(english), "X")
    if values:  # a stray "%" would fail here, where the page would
        assert "X" in english % values and "X" in swahili % values


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("", "en"),
        ("sw", "sw"),
        ("sw-KE,sw;q=0.9,en-US;q=0.8,en;q=0.7", "sw"),
        ("en-GB,en;q=0.9,sw;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,sw;q=0.5", "sw"),
        ("en;q=0.5, sw;q=0.6", "sw"),
        ("en, sw", "en"),
        ("*", "en"),
        ("fr", "en"),
        ("sw;q=0", "en"),
        ("sw;q=abc, en", "en"),
        ("sw-KE;level=1;q=0.8, en;q=0.7", "sw"),
    ],
)
def test_accept_language_chooses_swahili_only_when_it_ranks_first(header, lang):
    assert language.preferred(header) == lang


def test_a_translator_falls_back_to_the_english_and_fills_values():
    sw = language.translator("sw")
    assert sw("Sign in to %(isp)s", isp="Kilimo") == "Ingia kwenye Kilimo"
    assert sw("text no page has") == "text no page has"
    assert language.translator("en")("Sign in to %(isp)s", isp="Kilimo") == "Sign in to Kilimo"


async def _isp():
    tenant = await make_tenant(name="Kilimo WiFi")
    staff = await make_staff(tenant=tenant, role="owner")
    return {"host": f"{tenant.slug}.mnetifi.com"}, staff


def _html_lang(page: str) -> str:
    found = re.search(r'<html lang="([^"]*)"', page)
    assert found
    return found.group(1)


async def test_the_cookie_gives_the_sign_in_page_in_swahili(app):
    host, _ = await _isp()
    async with _from(app) as client:
        client.cookies.set(language.COOKIE, "sw")
        page = await client.get("/admin/login?flash=signed-out", headers=host)
        assert page.status_code == 200 and _html_lang(page.text) == "sw"
        assert "Ingia kwenye Kilimo WiFi" in page.text and "Nenosiri" in page.text
        assert "Umetoka." in page.text  # the flash too
        assert "Password" not in page.text and 'id="lang-switch"' in page.text
        assert ">English</a>" in page.text  # the way back, in its own language


async def test_accept_language_gives_swahili_without_a_cookie(app):
    host, _ = await _isp()
    async with _from(app) as client:
        page = await client.get("/admin/login", headers=host | {"accept-language": "sw-KE,sw"})
        assert _html_lang(page.text) == "sw" and "Umesahau nenosiri?" in page.text
        english = await client.get("/admin/login", headers=host | {"accept-language": "en-GB"})
        assert _html_lang(english.text) == "en" and "Forgotten your password?" in english.text


@pytest.mark.parametrize("value", ["fr", "SW", "swahili", "<script>", ""])
async def test_a_cookie_of_another_value_is_ignored(app, value):
    host, _ = await _isp()
    async with _from(app) as client:
        client.cookies.set(language.COOKIE, value)
        page = await client.get("/admin/login", headers=host)
        assert page.status_code == 200 and _html_lang(page.text) == "en"
        assert "Sign in to Kilimo WiFi" in page.text and ">Kiswahili</a>" in page.text
        swahili = await client.get("/admin/login", headers=host | {"accept-language": "sw"})
        assert _html_lang(swahili.text) == "sw"  # the header decides instead


async def test_the_switch_sets_a_years_cookie_for_the_dashboard_and_goes_back(app):
    host, _ = await _isp()
    async with _from(app) as client:
        to = {"next": "/admin/login?flash=reset"}
        answer = await client.get("/admin/language/sw", params=to, headers=host)
        assert answer.status_code == 303 and answer.headers["location"] == to["next"]
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("mnetifi_lang=sw;") and "Path=/admin" in cookie
        assert "Max-Age=31536000" in cookie and "SameSite=lax" in cookie and "HttpOnly" in cookie
        page = await client.get(answer.headers["location"], headers=host)
        assert _html_lang(page.text) == "sw" and "Nenosiri lako limewekwa." in page.text
        back = await client.get("/admin/language/en?next=/admin/login", headers=host)
        assert back.headers["set-cookie"].startswith("mnetifi_lang=en;")
        page = await client.get("/admin/login", headers=host | {"accept-language": "sw"})
        assert _html_lang(page.text) == "en"  # the choice beats the header


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/admin/",
        "//evil.example/admin/",
        "/\\evil.example",
        "/admin\\..\\\\evil.example",
        "/admin@evil.example",
        "/admin/\t/evil.example",
        "javascript:alert(1)",
        "/api/v1/vouchers",
        "",
    ],
)
async def test_the_switch_goes_nowhere_but_this_dashboard(app, target):
    host, _ = await _isp()
    async with _from(app) as client:
        answer = await client.get("/admin/language/sw", params={"next": target}, headers=host)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/"


@pytest.mark.parametrize(
    ("target", "back"),
    [
        ("/admin/staff/invite", "/admin/staff"),  # a form's answer (POST only): its page
        ("/admin/account/totp/confirm", "/admin/account"),
        ("/admin/fair-usage", "/admin/"),
        ("/admin/audit?actor=a%40b.example", "/admin/audit?actor=a%40b.example"),
        ("/admin/vouchers/ABC123", "/admin/vouchers/ABC123"),
    ],
)
async def test_the_switch_comes_back_to_a_page_that_can_be_opened(app, target, back):
    host, _ = await _isp()
    async with _from(app) as client:
        answer = await client.get("/admin/language/en", params={"next": target}, headers=host)
        assert answer.headers["location"] == back


@pytest.mark.parametrize("lang", ["fr", "SW", "en-GB", "x" * 50])
async def test_the_switch_takes_only_en_or_sw(app, lang):
    host, _ = await _isp()
    async with _from(app) as client:
        answer = await client.get(f"/admin/language/{lang}?next=/admin/login", headers=host)
        assert answer.status_code == 404 and "set-cookie" not in answer.headers


async def test_the_menu_and_a_page_in_swahili_once_signed_in(app):
    host, staff = await _isp()
    async with _from(app) as client:
        client.cookies.set(language.COOKIE, "sw")
        shown = await client.get("/admin/login", headers=host)
        token = re.search(r'name="csrf_token" value="([^"]+)"', shown.text)
        assert token
        body = {"email": staff.email, "password": PASSWORD, "csrf_token": token.group(1)}
        assert (await client.post("/admin/login", data=body, headers=host)).status_code == 303
        page = await client.get("/admin/routers", headers=host)
        assert page.status_code == 200 and _html_lang(page.text) == "sw"
        for word in ("Vocha", "Vifurushi", "Malipo", "Wafanyakazi", "Mipangilio", "Toka"):
            assert word in page.text
        assert "Ongeza ruta" in page.text and "Add a router" not in page.text
        problem = await client.get("/admin/language/fr", headers=host)  # the problem page
        assert problem.status_code == 404 and "Haipatikani" in problem.text
        assert _html_lang(problem.text) == "sw" and "Rudi kwenye dashibodi" in problem.text
