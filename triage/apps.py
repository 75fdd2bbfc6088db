from django.apps import AppConfig


class TriageConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "triage"
    verbose_name = "AI triage"

    def ready(self) -> None:
        # Imported here, as Django asks: both need the app registry ready. ``checks`` registers the
        # system checks. Warm workers (triage/warmup.py): models load when a worker process
        # starts; the signals fire only in Celery workers, so web processes never warm up.
        from celery.signals import worker_init, worker_process_init

        from triage import checks, warmup  # noqa: F401  (checks: registered on import)

        worker_process_init.connect(warmup.on_worker_process_init, dispatch_uid="triage-warm-process")
        worker_init.connect(warmup.on_worker_init, dispatch_uid="triage-warm-init")
