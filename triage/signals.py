"""What the AI worker tells the layers above it, without importing them (docs/architecture.md).

``reply_auto_sent(ticket=, outbound=, decision=)`` is sent inside the transaction that queued an
automatic reply; the review app samples it for audit there (``review.autonomy``), so a sample
exists exactly when the reply does.
"""

from django.dispatch import Signal

reply_auto_sent = Signal()
