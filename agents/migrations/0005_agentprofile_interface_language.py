from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0004_agentprofile_notifications"),
    ]

    operations = [
        migrations.AddField(
            model_name="agentprofile",
            name="interface_language",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
    ]
