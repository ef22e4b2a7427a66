"""The fake Africa's Talking (deploy/fakes/africastalking.py) speaks AT's wire format: form body,
apiKey header, SMSMessageData.Recipients with per-number status and cost, delivery reports
posted to the callback, magic numbers for the failures. Exercised over real HTTP on the stack's
fake (MNETIFI_AT_URL)."""

from __future__ import annotations

import asyncio
import random
import re

import httpx
import pytest

from api.config import get_settings

PLATFORM = {"username": "mnetifi-platform", "key": "demo-platform-api-key"}


def base() -> str:
    return get_settings().at_url.rstrip("/")


def phone() -> str:
    return "+2547" + str(random.randint(10_000_000, 99_999_999))  # never a magic +25470000000x


async def post(
    form: dict[str, str], *, key: str = PLATFORM["key"], accept: str = "application/json"
):
    headers = {"apiKey": key, "Accept": accept}
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(f"{base()}/version1/messaging", data=form, headers=headers)


async def received(to: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(f"{base()}/__fake__/messages", params={"to": to})).json()


async def reports_of(to: str, want: int) -> list[dict]:
    for _ in range(50):
        found = [r for m in await received(to) for r in m["reports"]]
        if len(found) >= want:
            return found
        await asyncio.sleep(0.1)
    return found


async def test_a_message_is_answered_in_africas_talkings_format_and_reported():
    to = phone()
    response = await post(
        {
            "username": PLATFORM["username"],
            "to": to,
            "message": "Your code is 123456",
            "from": "MNETIFI",
        }
    )
    assert response.status_code == 201
    data = response.json()["SMSMessageData"]
    assert data["Message"] == "Sent to 1/1 Total Cost: KES 0.8000"
    [recipient] = data["Recipients"]
    assert recipient["statusCode"] == 101 and recipient["status"] == "Success"
    assert recipient["number"] == to and recipient["cost"] == "KES 0.8000"
    assert re.fullmatch(r"ATXid_[0-9a-f]{32}", recipient["messageId"])

    [message] = await received(to)
    assert (message["message"], message["from"], message["username"]) == (
        "Your code is 123456", "MNETIFI", PLATFORM["username"],
    )  # fmt: skip
    [report] = await reports_of(to, 1)
    assert report["form"] == {
        "id": recipient["messageId"], "status": "Success", "phoneNumber": to,
        "networkCode": "63902", "retryCount": "0",
    }  # fmt: skip
    # Our hook acknowledges a report for a message it never sent, and ignores it.
    assert report["status_code"] == 200 and "ignored" in report["answer"]


@pytest.mark.parametrize(
    ("form", "key", "status"),
    [
        ({"username": PLATFORM["username"]}, "wrong-key", 401),
        ({"username": "nobody"}, PLATFORM["key"], 401),
        ({"username": PLATFORM["username"], "message": "hi"}, PLATFORM["key"], 400),  # no to
        ({"username": PLATFORM["username"], "to": "+254712345678"}, PLATFORM["key"], 400),
    ],
)
async def test_bad_credentials_and_missing_fields_are_refused(form, key, status):
    form = {"to": "+254712345678", "message": "hi"} | form if status == 401 else form
    response = await post(form, key=key)
    assert response.status_code == status
    assert "SMSMessageData" not in response.text


async def test_magic_numbers_and_invalid_numbers_fail_per_recipient():
    good, bad = phone(), "0712345678"
    numbers = f"+254700000001,+254700000002,{good},{bad}"
    response = await post({"username": PLATFORM["username"], "to": numbers, "message": "x"})
    assert response.status_code == 201
    data = response.json()["SMSMessageData"]
    by_number = {r["number"]: r for r in data["Recipients"]}
    assert (by_number["+254700000001"]["statusCode"], by_number["+254700000001"]["status"]) == (
        403, "InvalidPhoneNumber",
    )  # fmt: skip
    assert by_number["+254700000002"]["status"] == "InsufficientBalance"
    assert by_number["+254700000002"]["statusCode"] == 405
    assert by_number[bad]["statusCode"] == 403
    assert by_number[good]["statusCode"] == 101
    assert data["Message"] == "Sent to 1/4 Total Cost: KES 0.8000"
    assert by_number["+254700000001"]["messageId"] == "None"


async def test_magic_number_4_is_a_provider_error():
    response = await post({"username": PLATFORM["username"], "to": "+254700000004", "message": "x"})
    assert response.status_code == 500


async def test_magic_delivery_reports_failed_duplicate_and_none():
    await post({"username": PLATFORM["username"], "to": "+254700000003", "message": "a"})
    failed = (await reports_of("+254700000003", 1))[-1]["form"]
    assert (failed["status"], failed["failureReason"]) == ("Failed", "AbsentSubscriber")

    before5 = len(await received("+254700000005"))
    await post({"username": PLATFORM["username"], "to": "+254700000005", "message": "b"})
    await reports_of("+254700000005", 2 * (before5 + 1))
    assert [r["form"]["status"] for r in (await received("+254700000005"))[-1]["reports"]] == [
        "Success", "Success",
    ]  # fmt: skip

    await post({"username": PLATFORM["username"], "to": "+254700000006", "message": "c"})
    await asyncio.sleep(0.5)
    assert (await received("+254700000006"))[-1]["reports"] == []


async def test_the_api_key_is_never_recorded():
    to = phone()
    await post({"username": PLATFORM["username"], "to": to, "message": "k"})
    async with httpx.AsyncClient(timeout=10) as http:
        requests = (await http.get(f"{base()}/__fake__/requests")).text
    assert to in requests and PLATFORM["key"] not in requests
