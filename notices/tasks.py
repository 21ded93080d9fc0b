"""Celery tasks of the outbox: thin callers of its services. Every notice is in the database,
so a lost task only delays it until the next outbox sweep."""

from celery import shared_task

from . import services


@shared_task(name="notices.send")
def notices_send_task(notice_ids: list[int]) -> int:
    """After commit: send the notices a transaction has just written."""
    return services.notice_deliver(notice_ids=notice_ids)


@shared_task(name="notices.deliver")
def notices_deliver_task() -> int:
    """Beat, every NOTICE_SWEEP_SECONDS: pending notices whose task was lost or whose retry is
    due."""
    return services.notice_deliver()


@shared_task(name="notices.send_chat")
def notices_send_chat_task(notice_ids: list[int]) -> int:
    """After commit, on the chat queue: post the channel notices a transaction has written."""
    return services.notice_deliver_chat(notice_ids=notice_ids)


@shared_task(name="notices.deliver_chat")
def notices_deliver_chat_task() -> int:
    """Beat: channel notices whose task was lost or whose retry is due."""
    return services.notice_deliver_chat()
