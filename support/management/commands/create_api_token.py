"""``python manage.py create_api_token NAME [--source SOURCE]``: a service user plus a token bound to
one ticket source, printed once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.text import slugify

from support.api_auth import hash_token, new_token_key
from support.models import ApiToken
from support.models.intake import RESERVED_SOURCE_NAMES


class Command(BaseCommand):
    help = ("Create a service user and an API token for a trusted system, bound to one ticket source; "
            "the token is printed once.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The system's name (a slug).")
        parser.add_argument(
            "--source",
            help="The ticket source the token writes and reads (default: NAME). It reads and rates only "
                 "that source's tickets; 'email' is reserved for the e-mail intake.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = slugify(options["name"])[:80]
        if not name:
            raise CommandError("NAME must contain letters or digits")
        source = slugify(options["source"] or name)[:80]
        if not source:
            raise CommandError("--source must contain letters or digits")
        if source in RESERVED_SOURCE_NAMES:
            raise CommandError(f"the source {source!r} is reserved for the e-mail intake; choose another")
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"a token named {name!r} already exists")
        key = new_token_key()
        with transaction.atomic():
            user, _ = get_user_model().objects.get_or_create(username=f"api-{name}"[:150])
            user.set_unusable_password()
            user.save()
            ApiToken.objects.create(name=name, source=source, key_hash=hash_token(key), prefix=key[:12], user=user)
        self.stdout.write(key)
        self.stderr.write(f"Token for {name!r} (user {user.get_username()}, source {source!r}): "
                          "store it now, it is not shown again.")
