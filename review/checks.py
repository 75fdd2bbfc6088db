"""System checks of the human side.

The demo tenant's users share a password published in the README. ``seed_demo`` refuses to run in
production, but a database seeded on a laptop can still be promoted: ``check --deploy`` then
fails while any active user still logs in with that password. The demo package imports the
credentials from here (production code never imports the demo package)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DatabaseError

DEMO_PASSWORD = "switchboard-demo"
DEMO_USERNAMES = ("agent1", "agent2", "manager", "admin")


@register(Tags.security, deploy=True)
def demo_credentials_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.DJANGO_ENV != "production":
        return []
    try:
        users = list(get_user_model().objects.filter(username__in=DEMO_USERNAMES, is_active=True))
    except DatabaseError:  # no database yet (an image build): nothing can be logged into either
        return []
    return [
        Error(
            f"User {user.get_username()!r} still has the demo password.",
            hint="Set a new password (manage.py changepassword) or deactivate the user; "
            "create administrators with manage.py createsuperuser.",
            obj=user.get_username(),
            id="review.E001",
        )
        for user in users
        if user.check_password(DEMO_PASSWORD)
    ]
