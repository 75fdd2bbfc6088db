from django.apps import AppConfig


class TriageConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "triage"
    verbose_name = "AI triage"

    def ready(self) -> None:
        from triage import checks  # noqa: F401  (registers the system checks)
