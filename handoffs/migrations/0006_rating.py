# CSAT: one rating (1-5, optional comment) per resolved handoff (handoffs/ratings.py).

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("handoffs", "0005_handoff_created_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="Rating",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("score", models.PositiveSmallIntegerField()),
                ("comment", models.CharField(blank=True, max_length=1000)),
                (
                    "source",
                    models.CharField(
                        choices=[("webchat", "Web chat"), ("bot", "Bot")], max_length=8
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "handoff",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rating",
                        to="handoffs.handoff",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("score__gte", 1), ("score__lte", 5)),
                        name="rating_score_1_to_5",
                    )
                ],
            },
        ),
    ]
