"""ApiToken now belongs to the core app (core.0001 takes over its model state; the table stays)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0004_job_owner_status_created"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ApiToken")],
            database_operations=[],
        ),
    ]
