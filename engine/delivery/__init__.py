"""Delivery from the outbox: signed webhooks, group robots and e-mail, at least once, with a stable message id.

The scheduler calls :func:`engine.delivery.worker.deliver`; the item-reminders route calls
:func:`engine.delivery.status.notice_delivery_status`.
"""
