"""Chat tasks, on the chat queue: answering a button press through Slack's response URL."""

import logging

from celery import shared_task

from notices.webhooks import WebhookFailed, webhook_post

log = logging.getLogger(__name__)


@shared_task(name="chat.respond")
def respond_task(url: str, body: dict) -> bool:
    """Replace the pressed message (or answer only the presser). What the button did is on the
    incident's timeline already; a message that cannot be updated is only logged."""
    try:
        webhook_post(url, body)
    except WebhookFailed as error:
        log.warning("could not answer a button press at %s: %s", url.split("?")[0], error)
        return False
    return True
