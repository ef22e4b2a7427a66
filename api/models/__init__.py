from api.models.base import Base
from api.models.control import CoaRequest, FairUsageRule, FairUsageState
from api.models.identity import ApiToken, RecoveryCode, SecondFactor, StaffLink
from api.models.messaging import (
    EmailSettings,
    Message,
    SmsMessage,
    SmsSettings,
    WhatsappSettings,
)
from api.models.network import Plan, Router, Voucher, VoucherDevice
from api.models.notifications import Notification, NotificationRule, Outage
from api.models.offers import Broadcast, InboundSms, OfferConsent
from api.models.payments import Payment, PaymentEvent, PaymentGrant, PaymentSettings, StkRequest
from api.models.portal import PortalSettings, PromoCode
from api.models.radius import (
    AuthFailure,
    RadAcct,
    RadCheck,
    RadGroupCheck,
    RadGroupReply,
    RadPostAuth,
    RadReply,
    RadUserGroup,
)
from api.models.subscribers import (
    IpPool,
    StaffZone,
    Subscriber,
    SubscriberAuthFailure,
    SubscriberExpiry,
    SubscriberPayment,
    SubscriberPlan,
    Zone,
)
from api.models.tenancy import (
    AuditEvent,
    OperatorRecoveryCode,
    PlatformOperator,
    StaffRouter,
    StaffUser,
    Tenant,
)

__all__ = [
    "Zone",
    "SubscriberPlan",
    "Subscriber",
    "SubscriberAuthFailure",
    "SubscriberExpiry",
    "SubscriberPayment",
    "StaffZone",
    "IpPool",
    "ApiToken",
    "AuditEvent",
    "AuthFailure",
    "Base",
    "Broadcast",
    "CoaRequest",
    "EmailSettings",
    "FairUsageRule",
    "FairUsageState",
    "InboundSms",
    "Message",
    "Payment",
    "PaymentEvent",
    "PaymentGrant",
    "PaymentSettings",
    "Notification",
    "OfferConsent",
    "NotificationRule",
    "OperatorRecoveryCode",
    "Outage",
    "PlatformOperator",
    "Plan",
    "PortalSettings",
    "PromoCode",
    "RadAcct",
    "RadCheck",
    "RadGroupCheck",
    "RadGroupReply",
    "RadPostAuth",
    "RadReply",
    "RadUserGroup",
    "RecoveryCode",
    "Router",
    "SecondFactor",
    "StaffLink",
    "SmsMessage",
    "SmsSettings",
    "StaffRouter",
    "StaffUser",
    "StkRequest",
    "Tenant",
    "Voucher",
    "VoucherDevice",
    "WhatsappSettings",
]
