"""The STK push request as Daraja requires it (reference: mpesa-and-messaging.md section 2)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from api.payments.daraja import (
    Account,
    base_url,
    clean_text,
    normalize_phone,
    stk_password,
    stk_push_body,
    timestamp,
)

SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
PAYBILL = Account("sandbox", "paybill", "174379", None, "key", "secret", SANDBOX_PASSKEY)
TILL = Account("production", "till", "7654321", "123456", "key", "secret", "pk")


def test_password_matches_darajas_published_example():
    expected = (
        "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQy"
        "YzkxOTIwMjEwNjI4MDkyNDA4"
    )
    assert stk_password("174379", SANDBOX_PASSKEY, "20210628092408") == expected


def test_timestamp_is_nairobi_time():
    assert timestamp(datetime(2026, 11, 23, 22, 30, 5, tzinfo=UTC)) == "20261124013005"


@pytest.mark.parametrize(
    ("typed", "msisdn"),
    [
        ("0712345678", "254712345678"),
        ("0112 345 678", "254112345678"),
        ("+254-712-345-678", "254712345678"),
        ("254112345678", "254112345678"),
        ("712345678", "254712345678"),
    ],
)
def test_phone_numbers_are_normalised(typed, msisdn):
    assert normalize_phone(typed) == msisdn


@pytest.mark.parametrize("typed", ["", "0812345678", "07123456789", "25471234567", "abc", "+1555"])
def test_other_numbers_are_refused(typed):
    with pytest.raises(ValueError, match="not a Kenyan mobile number"):
        normalize_phone(typed)


def test_paybill_push_pays_the_paybill():
    now = datetime(2021, 6, 28, 6, 24, 8, tzinfo=UTC)  # 09:24:08 in Nairobi
    body = stk_push_body(
        PAYBILL, phone="0722000000", amount=50, callback_url="https://x.example/cb/t",
        reference="Day pass #1 & more", description="WiFi 1 Day pass!", now=now,
    )  # fmt: skip
    assert body == {
        "BusinessShortCode": "174379",
        "Password": stk_password("174379", SANDBOX_PASSKEY, "20210628092408"),
        "Timestamp": "20210628092408",
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 50,
        "PartyA": "254722000000",
        "PartyB": "174379",
        "PhoneNumber": "254722000000",
        "CallBackURL": "https://x.example/cb/t",
        "AccountReference": "Day pass 1 m",
        "TransactionDesc": "WiFi 1 Day pa",
    }
    assert len(body["AccountReference"]) <= 12 and len(body["TransactionDesc"]) <= 13


def test_till_push_buys_goods_from_the_till_with_the_store_number():
    body = stk_push_body(
        TILL,
        phone="0712345678",
        amount=20,
        callback_url="https://x",
        reference="r",
        description="d",
    )
    assert body["TransactionType"] == "CustomerBuyGoodsOnline"
    assert (body["BusinessShortCode"], body["PartyB"]) == ("7654321", "123456")
    stamp = body["Timestamp"]
    assert base64.b64decode(body["Password"]).decode() == f"7654321pk{stamp}"


@pytest.mark.parametrize("amount", [0, -5, 250_001, 10.5, True, "10"])
def test_amount_must_be_whole_shillings_in_range(amount):
    with pytest.raises(ValueError, match="whole number"):
        stk_push_body(
            PAYBILL, phone="0712345678", amount=amount, callback_url="https://x",
            reference="r", description="d",
        )  # fmt: skip


def test_clean_text_keeps_letters_digits_spaces():
    assert clean_text("  a@b#c&d 12  ", 12) == "abcd 12"


def test_calls_go_to_the_override_or_the_accounts_own_host():
    assert base_url("sandbox") == "https://sandbox.safaricom.co.ke"
    assert base_url("production") == "https://api.safaricom.co.ke"
    assert base_url("production", "http://127.0.0.1:18201/") == "http://127.0.0.1:18201"
