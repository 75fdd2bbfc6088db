"""System checks: LOCAL_MODEL_EMBEDDINGS=on promises the sentence encoder, so `manage.py check`,
`migrate` and `runserver` refuse to start without a usable one."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from triage.embeddings import encoder_status


@register()
def encoder_required_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.LOCAL_MODEL_EMBEDDINGS != "on":
        return []  # auto: encoder_status() reports it; off: never used
    status = encoder_status()
    if status.usable:
        return []
    return [
        Error(
            f"LOCAL_MODEL_EMBEDDINGS=on but the sentence encoder is {status.state}: {status.detail}",
            hint="Run `python manage.py encoder_install`, or set LOCAL_MODEL_EMBEDDINGS=auto.",
            id="triage.E001",
        )
    ]
