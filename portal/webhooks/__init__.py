"""Stripe webhooks: verified, stored once by Stripe's event id, processed in a task.

The receive path (`api.py`) only verifies the signature, stores the event and queues it;
everything that touches payments happens in `process_webhook_event` (`tasks.py`), through
the same services the JSON API calls. Admins see every event at `/admin/webhooks`.
"""
