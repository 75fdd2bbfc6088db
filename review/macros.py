"""Macros: shared canned replies, rendered for one ticket and one agent by the server."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.auth.models import User

from review.models import Macro
from support.models import Ticket

MACRO_VARIABLES = ("customer_name", "ticket_reference", "agent_name")
_VARIABLE = re.compile(r"\{(" + "|".join(MACRO_VARIABLES) + r")\}")


@dataclass(frozen=True)
class RenderedMacro:
    id: int
    name: str
    text: str


def macro_render(*, body: str, ticket: Ticket, agent: User) -> str:
    """``body`` with its variables filled in. Anything else in braces stays as written, so a
    macro that quotes ``{json}`` never breaks."""
    values = {
        "customer_name": ticket.customer.name or ticket.customer.email,
        "ticket_reference": ticket.reference,
        "agent_name": agent.get_full_name() or agent.get_username(),
    }
    return _VARIABLE.sub(lambda match: values[match.group(1)], body)


def macros_rendered_for(*, ticket: Ticket, agent: User) -> list[RenderedMacro]:
    """Every macro, rendered for this ticket: one query (the ticket comes with its customer)."""
    return [
        RenderedMacro(id=macro.pk, name=macro.name, text=macro_render(body=macro.body, ticket=ticket, agent=agent))
        for macro in Macro.objects.order_by("name")
    ]
