"""Bearer tokens for trusted systems: ``Authorization: Token <key>``, and what a caller of the
ticket API may reach (``api_tickets_for``): a token only its own source's tickets, a signed-in
agent only their teams' (issue 13, point 3)."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from support.models import ApiToken, Ticket
from support.models.tickets import TicketQuerySet

TOKEN_PREFIX = "sbt_"


def hash_token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_token_key() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def api_tickets_for(request: Request) -> TicketQuerySet:
    """Selector: the tickets this API caller may read or act on; anything else is a 404.

    A token sees the tickets of the source it is bound to, nothing else (not other sources', not
    e-mail customers'). A session (an agent in the browser) sees what the review UI shows them.
    """
    if isinstance(request.auth, ApiToken):
        return Ticket.objects.filter(source=request.auth.source) if request.auth.source else Ticket.objects.none()
    if request.user.is_authenticated:
        return Ticket.objects.visible_to(agent=request.user)  # type: ignore[arg-type]  # an authenticated User
    return Ticket.objects.none()


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, key = header.partition(" ")
        if scheme.lower() not in {"token", "bearer"}:
            return None
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("Empty token.")
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(key), revoked=False).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
