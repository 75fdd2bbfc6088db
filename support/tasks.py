"""Celery adapters for the ticket domain: take ids, call a service."""

from celery import shared_task
from django.conf import settings

from support import delivery, services
from support.delivery import DeliveryRetry
from support.intake.imap import imap_poll


@shared_task
def dispatch_pending_task() -> int:
    return services.dispatch_pending()


# Retries are declared here; the attempt count that decides "failed" lives on the OutboundMessage
# row (support.delivery.outbound_deliver), so sweeper re-sends count too and max_retries is only
# a backstop. acks_late: a worker lost mid-task leaves the message for redelivery; the row's
# pending -> sending claim makes that redelivery harmless.
# ignore_result: the outcome lives on the row; without it, .delay() also waits on the result
# store, which makes an approval hang for ~20 s when Redis is down instead of failing fast.
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(DeliveryRetry,),
    retry_backoff=settings.DELIVERY_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=settings.DELIVERY_RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=settings.DELIVERY_MAX_ATTEMPTS,
)
def deliver_outbound_task(outbound_id: int) -> str:
    return delivery.outbound_deliver(outbound_id=outbound_id)


@shared_task(ignore_result=True)
def deliver_due_outbound_task() -> int:
    return delivery.outbound_deliver_due()


@shared_task
def poll_imap_task() -> int:
    """Beat job (scheduled when IMAP_HOST is set): ingest unseen IMAP mail."""
    return len(imap_poll())
