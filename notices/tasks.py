"""Celery tasks of the outbox: thin callers of its services. Every notice is in the database,
so a lost task only delays it until the next outbox sweep."""

from celery import shared_task
from celery.signals import worker_process_shutdown

from . import services
from .mailpool import pool


@worker_process_shutdown.connect
def _close_mail_connections(**_kwargs) -> None:
    """A worker process leaving says goodbye to the mail server on its pooled connections."""
    pool.close()


@shared_task(name="notices.send")
def notices_send_task(notice_ids: list[int]) -> int:
    """After commit: a transaction has written notices; drain the outbox, most severe first.

    Not only `notice_ids`: under a burst this task is queued behind the burst's own, and a P0
    notice written meanwhile must leave with the next batch any worker claims, not when its
    task's turn comes. The drain is the sweep's, over the same pool of connections.
    """
    return services.notice_deliver()


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
