"""``Alert`` moves from ``triage`` to ``support`` (the lowest layer) so delivery can raise one.

Only Django's state moves: the table keeps its name, ``triage_alert`` (``db_table``), and its rows.
On a fresh database ``triage.0001_initial`` creates the table and this migration adopts it; on an
existing one nothing is copied or rebuilt. ``triage.0003`` removes the model from triage's state.
The content type is renamed so permissions granted on alerts stay granted.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def content_type_to_support(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _content_type_move(apps, schema_editor, source="triage", target="support")


def content_type_to_triage(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _content_type_move(apps, schema_editor, source="support", target="triage")


def _content_type_move(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor, *, source: str, target: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if content_type.objects.using(db).filter(app_label=target, model="alert").exists():
        return  # already created for the new label (post_migrate ran in between): keep it
    content_type.objects.using(db).filter(app_label=source, model="alert").update(app_label=target)


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0003_csatrating"),
        ("triage", "0001_initial"),  # the table is created there
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Alert",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(choices=[("budget_exceeded", "Daily LLM budget exceeded"), ("provider_down", "Provider circuit open"), ("automation_braked", "Automation braked"), ("sla_breach", "SLA breached"), ("delivery_failed", "Reply delivery failed")], max_length=32)),
                        ("message", models.TextField()),
                        ("details", models.JSONField(blank=True, default=dict)),
                        ("dedupe_key", models.CharField(help_text="One alert per day and cause.", max_length=200, unique=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("acknowledged_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={"db_table": "triage_alert", "ordering": ["-created_at"]},
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_support, content_type_to_triage),
    ]
