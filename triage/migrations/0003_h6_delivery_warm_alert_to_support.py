"""``Alert`` now lives in ``support`` (see ``support.0004``): remove it from triage's state only.
The table ``triage_alert`` and its rows stay where they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0002_triagedecision_breaker_open"),
        ("support", "0004_h6_delivery_warm_alert_from_triage"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Alert")],
            database_operations=[],
        ),
    ]
