# Indexes the reports read (reports/figures.py): a handoff's first agent message, and the
# distinct channels for the channel menu.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0006_move_outbox_and_idempotency"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("direction", "agent")),
                fields=["handoff", "created_at"],
                name="message_agent_reply",
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["channel"], name="conversation_channel"),
        ),
    ]
