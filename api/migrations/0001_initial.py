"""Api takes over IdempotencyRecord from the conversations app.

The tables stay as they are (their db_table keeps the old name), so this changes only
Django's state, and renames the content types so permissions and admin history follow.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


MODELS = ('idempotencyrecord',)


def _relabel(apps, schema_editor, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    for model in MODELS:
        if not types.filter(app_label=new, model=model).exists():
            types.filter(app_label=old, model=model).update(app_label=new)


def move_content_types(apps, schema_editor):
    _relabel(apps, schema_editor, "conversations", "api")


def move_content_types_back(apps, schema_editor):
    _relabel(apps, schema_editor, "api", "conversations")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('conversations', '0005_encrypt_webhook_secrets'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='IdempotencyRecord',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=255)),
                        ('request_hash', models.CharField(max_length=64)),
                        ('status_code', models.PositiveSmallIntegerField()),
                        ('body', models.JSONField()),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('bot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.bot')),
                    ],
                    options={
                        'db_table': 'conversations_idempotencyrecord',
                        'constraints': [models.UniqueConstraint(fields=('bot', 'key'), name='idempotency_key_unique_per_bot')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
