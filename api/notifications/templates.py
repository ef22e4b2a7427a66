"""What each notification says, in English and Swahili, with placeholders filled from the
voucher and the ISP. Placeholders are `{name}` for the names in PLACEHOLDERS only, replaced as
plain text: an ISP's own wording (editable later) can never reach an attribute or a format
spec, as str.format would let it."""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDERS = (
    "isp", "code", "package", "percent", "data_left", "time_left", "support", "minutes", "amount",
    "message", "router", "since", "reason", "source", "failures", "accounts", "sources", "phone",
    "result", "name", "username", "plan", "due_date", "days", "paybill", "account",
)  # fmt: skip
# Events told to the ISP's owners and admins (by e-mail by default), not to a customer.
STAFF_EVENTS = (
    "staff.router_silent", "staff.forged_callback", "staff.failed_logins", "staff.failed_payments",
)  # fmt: skip
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

# Events told to a subscriber (PPPoE or static) about their monthly bill, by SMS to their phone.
SUBSCRIBER_EVENTS = ("subscriber.due_soon", "subscriber.overdue")
# What each event is, for the ISP's settings page.
EVENTS = {
    "usage.data": "A voucher crossed the usage threshold of its data",
    "usage.time": "A voucher crossed the usage threshold of its time",
    "expiry": "A sold voucher ends soon (the ISP's minutes before)",
    "payment": "A payment bought a voucher or more time",
    "outage": "Staff announced an outage or maintenance where the customer is online",
    "subscriber.due_soon": "A subscriber's monthly payment is due soon (the ISP's days before)",
    "subscriber.overdue": "A subscriber's monthly payment is overdue (on the ISP's dunning days)",
    "staff.router_silent": "To owners and admins: a router stopped reporting",
    "staff.forged_callback": "To owners and admins: a payment callback was refused as forged",
    "staff.failed_logins": "To owners and admins: a burst of failed staff sign-ins",
    "staff.failed_payments": "To owners and admins: M-Pesa payments from one phone failed again "
    "and again",
}

DEFAULTS: dict[str, dict[str, str]] = {
    "usage.data": {
        "en": "{isp}: you have used {percent}% of the data on voucher {code} ({package}); "
        "{data_left} left. Buy more on the WiFi page to stay online.",
        "sw": "{isp}: umetumia {percent}% ya data ya vocha {code} ({package}); zimebaki "
        "{data_left}. Nunua zaidi kwenye ukurasa wa WiFi ili uendelee kuwa mtandaoni.",
    },
    "usage.time": {
        "en": "{isp}: you have used {percent}% of the time on voucher {code} ({package}); "
        "{time_left} left. Buy more on the WiFi page to stay online.",
        "sw": "{isp}: umetumia {percent}% ya muda wa vocha {code} ({package}); umebaki "
        "{time_left}. Nunua zaidi kwenye ukurasa wa WiFi ili uendelee kuwa mtandaoni.",
    },
    "expiry": {
        "en": "{isp}: voucher {code} ({package}) ends in {minutes} min. Buy more on the WiFi "
        "page to stay online.",
        "sw": "{isp}: vocha {code} ({package}) inaisha baada ya dakika {minutes}. Nunua zaidi "
        "kwenye ukurasa wa WiFi ili uendelee kuwa mtandaoni.",
    },
    "payment": {
        "en": "{isp}: payment of KES {amount} received. Your voucher is {code} ({package}): "
        "connect to the WiFi and enter it.",
        "sw": "{isp}: malipo ya KES {amount} yamepokelewa. Vocha yako ni {code} ({package}): "
        "unganisha na WiFi kisha uiweke.",
    },
    "outage": {"en": "{isp}: {message}", "sw": "{isp}: {message}"},
    "subscriber.due_soon": {
        "en": "{isp}: Hello {name}, your internet ({plan}) is due on {due_date}. Pay KES {amount} "
        "by M-Pesa Paybill {paybill}, account {account}, to stay online.",
        "sw": "{isp}: Habari {name}, malipo ya intaneti yako ({plan}) yanafika tarehe {due_date}. "
        "Lipa KES {amount} kwa M-Pesa Paybill {paybill}, akaunti {account}, ili uendelee "
        "kuwa mtandaoni.",
    },
    "subscriber.overdue": {
        "en": "{isp}: Hello {name}, your internet ({plan}) was due on {due_date}, {days} day(s) "
        "ago. Pay KES {amount} by M-Pesa Paybill {paybill}, account {account}, and you are back "
        "online within seconds.",
        "sw": "{isp}: Habari {name}, malipo ya intaneti yako ({plan}) yalifika tarehe {due_date}, "
        "siku {days} zilizopita. Lipa KES {amount} kwa M-Pesa Paybill {paybill}, akaunti "
        "{account}, nawe utarudi mtandaoni baada ya sekunde chache.",
    },
    "staff.router_silent": {
        "en": "{isp}: router {router} has reported nothing since {since} UTC; customers there "
        "may be offline.",
        "sw": "{isp}: ruta {router} haijatuma taarifa tangu {since} UTC; wateja walioko huko "
        "huenda hawako mtandaoni.",
    },
    "staff.forged_callback": {
        "en": "{isp}: a payment callback was refused as forged ({reason}; from {source}). If it "
        "repeats, check your M-Pesa settings.",
        "sw": "{isp}: taarifa ya malipo ilikataliwa kuwa ya kughushi ({reason}; kutoka {source}). "
        "Ikijirudia, kagua mipangilio yako ya M-Pesa.",
    },
    "staff.failed_logins": {
        "en": "{isp}: {failures} failed staff sign-ins in {minutes} min, for {accounts} e-mail "
        "addresses, from {sources}. If it was not your staff, see the audit log and require a "
        "second factor.",
        "sw": "{isp}: majaribio {failures} ya wafanyakazi kuingia yameshindwa ndani ya dakika "
        "{minutes}, kwa anwani {accounts} za barua pepe, kutoka {sources}. Kama si wafanyakazi "
        "wako, angalia kumbukumbu na uhitaji uthibitisho wa pili.",
    },
    "staff.failed_payments": {
        "en": "{isp}: {failures} M-Pesa payments from {phone} failed or were cancelled within "
        "{minutes} min (last: {result}). The customer may need help, or someone is sending "
        "prompts to a phone that refuses them.",
        "sw": "{isp}: malipo {failures} ya M-Pesa kutoka {phone} yameshindwa au kusitishwa ndani "
        "ya dakika {minutes} (la mwisho: {result}). Mteja huenda anahitaji msaada, au mtu "
        "anatuma maombi kwa simu inayoyakataa.",
    },
}


def render(template: str, values: Mapping[str, object]) -> str:
    """The template with each known placeholder replaced; unknown ones are left as written."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in PLACEHOLDERS and name in values:
            return str(values[name])
        return match.group(0)

    return _PLACEHOLDER.sub(fill, template)


def amount_of_data(octets: int | None) -> str:
    if octets is None:
        return "-"
    if octets >= 1 << 30:
        return f"{octets / (1 << 30):.1f} GB"
    return f"{octets / (1 << 20):.0f} MB"


def amount_of_time(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    hours, minutes = divmod(max(int(seconds), 0) // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
