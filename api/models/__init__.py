from api.models.base import Base
from api.models.network import Plan, Router, Voucher, VoucherDevice
from api.models.payments import PaymentSettings
from api.models.radius import (
    RadAcct,
    RadCheck,
    RadGroupCheck,
    RadGroupReply,
    RadPostAuth,
    RadReply,
    RadUserGroup,
)
from api.models.tenancy import AuditEvent, StaffUser, Tenant

__all__ = [
    "AuditEvent",
    "Base",
    "PaymentSettings",
    "Plan",
    "RadAcct",
    "RadCheck",
    "RadGroupCheck",
    "RadGroupReply",
    "RadPostAuth",
    "RadReply",
    "RadUserGroup",
    "Router",
    "StaffUser",
    "Tenant",
    "Voucher",
    "VoucherDevice",
]
