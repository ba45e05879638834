"""The permission "reports.view_reports" (reports/models.py): its unmanaged model has no
table; Django's post-migrate step creates the permission itself."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="ReportsAccess",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "managed": False,
                "default_permissions": (),
                "permissions": [("view_reports", "Can see the reports")],
            },
        ),
    ]
