from django.apps import AppConfig


class TriageConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "triage"
    verbose_name = "AI triage"

    def ready(self) -> None:
        # Warm workers (triage/warmup.py): models load when a worker process starts. The signals
        # fire only in Celery workers; web processes and management commands never warm up.
        # Imported here, as Django asks: warmup loads models, which needs the app registry ready.
        from celery.signals import worker_init, worker_process_init

        from triage import warmup

        worker_process_init.connect(warmup.on_worker_process_init, dispatch_uid="triage-warm-process")
        worker_init.connect(warmup.on_worker_init, dispatch_uid="triage-warm-init")
