"""Messages to customers and staff on every channel (SMS, WhatsApp, e-mail): one outbox, sent
once per idempotency key (outbox.py), the providers' clients (africastalking.py,
at_whatsapp.py, meta.py, email.py), whose account sends (accounts.py), the worker's sweep
(tasks.py) and the staff's list (endpoints.py).

    message_id = await api.messaging.enqueue(session, tenant_id, "whatsapp", "+2547...",
                                             "Your voucher ABC123 expires in 1 hour",
                                             "expiry", f"expiry:{voucher_id}")
"""

from api.messaging.outbox import enqueue

__all__ = ["enqueue"]
