"""`Ticket.escalated` meant both "the SLA job escalated it" and "an agent escalated it to a
manager", so the SLA job skipped tickets a person had escalated. Two fields now, one meaning each.

Existing rows: the old flag becomes ``sla_escalated`` (a ticket it covered was never escalated by
the SLA job again, so nothing changes for it); a manager escalation keeps its time.
"""

from django.db import migrations, models


def manager_time_from_old_flag(apps, schema_editor):
    Ticket = apps.get_model("support", "Ticket")
    Ticket.objects.filter(escalated_to_manager=True).update(
        escalated_to_manager_at=models.F("sla_escalated_at")
    )


class Migration(migrations.Migration):
    dependencies = [("support", "0001_initial")]

    operations = [
        migrations.RenameField("ticket", "escalated", "sla_escalated"),
        migrations.RenameField("ticket", "escalated_at", "sla_escalated_at"),
        migrations.AddField(
            "ticket", "escalated_to_manager_at", models.DateTimeField(blank=True, null=True)
        ),
        migrations.RunPython(manager_time_from_old_flag, migrations.RunPython.noop),
    ]
