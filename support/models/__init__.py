"""The ticket domain: who writes to us, what they wrote, who handles it, and what we sent back.

One module per part of the domain; everything is re-exported here, so ``support.models.Ticket``
is the one name the rest of the code uses.
"""

from .alerts import Alert
from .feedback import CsatRating
from .intake import ApiToken, InboundEmail, WebhookDelivery, WebhookSource
from .organisation import PRIORITY_ORDER, AgentProfile, AutomationPolicy, Category, Customer, Priority, Team
from .outbound import OutboundMessage
from .sla import SlaBreach, SlaPolicy
from .tickets import (
    DONE_STATUSES,
    OPEN_STATUSES,
    REOPEN_ON_CUSTOMER_REPLY,
    URGENCY_ORDER,
    Attachment,
    Message,
    Ticket,
    TicketEvent,
    TicketQuerySet,
)

__all__ = [
    "DONE_STATUSES",
    "OPEN_STATUSES",
    "REOPEN_ON_CUSTOMER_REPLY",
    "PRIORITY_ORDER",
    "URGENCY_ORDER",
    "AgentProfile",
    "Alert",
    "ApiToken",
    "Attachment",
    "AutomationPolicy",
    "Category",
    "CsatRating",
    "Customer",
    "InboundEmail",
    "Message",
    "OutboundMessage",
    "Priority",
    "SlaBreach",
    "SlaPolicy",
    "Team",
    "Ticket",
    "TicketEvent",
    "TicketQuerySet",
    "WebhookDelivery",
    "WebhookSource",
]
