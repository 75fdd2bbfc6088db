from django.apps import AppConfig


class KnowledgeBaseConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "triage.kb"
    label = "kb"
    verbose_name = "Knowledge base"
