from django.apps import AppConfig


class ReviewConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "review"
    verbose_name = "Human review"

    def ready(self) -> None:
        # The AI worker (a lower layer) announces auto-sent replies; audits are ours.
        from review import checks  # noqa: F401  (registers the deploy checks)
        from review.autonomy import automation_record_sent
        from triage.signals import reply_auto_sent

        reply_auto_sent.connect(automation_record_sent, dispatch_uid="review.audit_sampling")
