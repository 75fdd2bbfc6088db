"""The Celery application. Configuration lives in settings.py under the CELERY_ prefix."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")

app = Celery("switchboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def task_enqueue(name: str, *args: object) -> None:
    """Send the registered task ``name`` (or run it in-process when tasks are eager).

    Lower layers reach higher ones only this way, by task name, never by import (see
    docs/architecture.md); raises the broker's error when it is unreachable.
    """
    if name not in app.tasks:
        # Tasks modules are discovered lazily; a process that never imported them (a web worker,
        # a management command) loads them now, once.
        app.loader.import_default_modules()
    app.tasks[name].delay(*args)
