# The reports' date range (reports/figures.py) reads handoffs by creation time.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("handoffs", "0004_routing"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="handoff",
            index=models.Index(fields=["created_at"], name="handoff_created"),
        ),
    ]
