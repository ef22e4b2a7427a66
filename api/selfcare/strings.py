"""The self-care page's words in English and Kiswahili, on top of the portal's."""

from __future__ import annotations

from api.hotspot import strings as portal

EN: dict[str, str] = {
    "account": "My internet account",
    "username": "Username",
    "password": "Password",
    "sign_in": "Sign in",
    "sign_out": "Sign out",
    "plan": "Plan",
    "due": "Paid up to",
    "in_grace": "Payment overdue: in the grace period until",
    "expired_since": "Expired since",
    "balance": "Balance",
    "usage": "Used this month",
    "payments": "Recent payments",
    "no_payments": "No payments yet",
    "pay_title": "Pay by M-Pesa",
    "pay_amount": "Amount due",
    "pay_next": "The next month",
    "pay_button": "Send the M-Pesa prompt",
    "paybill_how": "Or pay from your phone: Lipa na M-Pesa, Pay Bill, business number",
    "paybill_account": "account number",
    "paid_now": "Payment received. You are paid up to",
    "password_title": "Change my PPPoE password",
    "password_current": "Current password",
    "password_new": "New password",
    "password_again": "New password again",
    "password_button": "Change password",
    "password_changed": "Password changed. Use it on your router next time it connects; "
    "your connection now stays up.",
    "password_rules": "6 to 64 characters, printable, no spaces",
    "password_mismatch": "The two new passwords differ",
    "password_current_wrong": "Your current password is wrong",
    "bad_phone": "Enter a Kenyan mobile number, e.g. 0712345678",
    "session_ended": "Your session has ended: sign in again",
}

SW: dict[str, str] = {
    "account": "Akaunti yangu ya intaneti",
    "username": "Jina la mtumiaji",
    "password": "Nenosiri",
    "sign_in": "Ingia",
    "sign_out": "Toka",
    "plan": "Kifurushi",
    "due": "Umelipia hadi",
    "in_grace": "Malipo yamechelewa: muda wa ziada hadi",
    "expired_since": "Kimekwisha tangu",
    "balance": "Salio",
    "usage": "Umetumia mwezi huu",
    "payments": "Malipo ya karibuni",
    "no_payments": "Bado hakuna malipo",
    "pay_title": "Lipa kwa M-Pesa",
    "pay_amount": "Kiasi unachodaiwa",
    "pay_next": "Mwezi ujao",
    "pay_button": "Tuma ombi la M-Pesa",
    "paybill_how": "Au lipa kutoka simu yako: Lipa na M-Pesa, Pay Bill, nambari ya biashara",
    "paybill_account": "nambari ya akaunti",
    "paid_now": "Malipo yamepokelewa. Umelipia hadi",
    "password_title": "Badilisha nenosiri langu la PPPoE",
    "password_current": "Nenosiri la sasa",
    "password_new": "Nenosiri jipya",
    "password_again": "Nenosiri jipya tena",
    "password_button": "Badilisha nenosiri",
    "password_changed": "Nenosiri limebadilishwa. Litumie kwenye ruta yako itakapounganisha "
    "tena; muunganisho wako unaendelea.",
    "password_rules": "herufi 6 hadi 64 zinazochapishwa, bila nafasi",
    "password_mismatch": "Manenosiri mawili mapya hayalingani",
    "password_current_wrong": "Nenosiri lako la sasa si sahihi",
    "bad_phone": "Weka nambari ya simu ya Kenya, mfano 0712345678",
    "session_ended": "Muda wako wa kuingia umekwisha: ingia tena",
}

LANGUAGES = {"en": EN, "sw": SW}


def strings(language: str) -> dict[str, str]:
    return portal.strings(language) | EN | LANGUAGES.get(language, {})
