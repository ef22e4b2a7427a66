"""SMS are swept with every other channel's messages (api/messaging/tasks.py); the name stays
for callers that knew it."""

from __future__ import annotations

from api.messaging.tasks import sweep_messages

sweep_sms = sweep_messages

__all__ = ["sweep_sms"]
