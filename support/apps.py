from django.apps import AppConfig


class SupportConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "support"
    verbose_name = "Support desk"

    def ready(self) -> None:
        from support import checks  # noqa: F401  (registers the intake's deploy checks)
        from support.intake.anymail_inbound import inbound_warn_if_off

        inbound_warn_if_off()  # said once per process at start-up (issue 13, point 1)
