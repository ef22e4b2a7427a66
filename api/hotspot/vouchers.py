"""Kept for api.payments.portal, which imports `vouchers.public_status` from here: the rule now
lives in api.hotspot.service. Delete this module once that caller imports the service."""

from __future__ import annotations

from api.hotspot.service import public_status

__all__ = ["public_status"]
