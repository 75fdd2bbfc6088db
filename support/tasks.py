"""Celery adapters for the ticket domain: take ids, call a service."""

from celery import Task, shared_task

from support import delivery, services
from support.delivery import DeliveryRetry
from support.intake.imap import imap_poll


@shared_task
def dispatch_pending_task() -> int:
    return services.dispatch_pending()


# The attempt count and the schedule live on the OutboundMessage row (support/delivery/: worker,
# schedule), so sweeper re-sends count too. A failed attempt raises DeliveryRetry with a countdown
# when the next gap is short (a few minutes): the task retries itself then. Longer gaps (the
# schedule spans hours) wait in the database for the sweeper, never as an ETA in Redis, which
# would redeliver them after its visibility timeout. max_retries=None: the row decides the end.
# acks_late: a worker lost mid-task leaves the message for redelivery; the row's
# pending -> sending claim makes that redelivery harmless.
# ignore_result: the outcome lives on the row; without it, .delay() also waits on the result
# store, which makes an approval hang for ~20 s when Redis is down instead of failing fast.
@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,
)
def deliver_outbound_task(self: Task, outbound_id: int) -> str:
    try:
        return delivery.outbound_deliver(outbound_id=outbound_id)
    except DeliveryRetry as exc:
        if exc.countdown is None:
            return "retry_scheduled"  # the sweeper sends it at next_attempt_at
        raise self.retry(exc=exc, countdown=exc.countdown) from exc


@shared_task(ignore_result=True)
def deliver_due_outbound_task() -> int:
    return delivery.outbound_deliver_due()


@shared_task
def poll_imap_task() -> int:
    """Beat job (scheduled when IMAP_HOST is set): ingest unseen IMAP mail."""
    return len(imap_poll())
