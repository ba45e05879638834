"""Webhooks takes over Event, Delivery from the conversations app.

The tables stay as they are (their db_table keeps the old name), so this changes only
Django's state, and renames the content types so permissions and admin history follow.
"""

import django.db.models.deletion
import django.utils.timezone
import webhooks.models
from django.db import migrations, models


MODELS = ('event', 'delivery')


def _relabel(apps, schema_editor, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    for model in MODELS:
        if not types.filter(app_label=new, model=model).exists():
            types.filter(app_label=old, model=model).update(app_label=new)


def move_content_types(apps, schema_editor):
    _relabel(apps, schema_editor, "conversations", "webhooks")


def move_content_types_back(apps, schema_editor):
    _relabel(apps, schema_editor, "webhooks", "conversations")


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
                    name='Event',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('public_id', models.CharField(default=webhooks.models.new_event_id, max_length=64, unique=True)),
                        ('type', models.CharField(max_length=40)),
                        ('data', models.JSONField()),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('feed_seq', models.BigIntegerField(blank=True, editable=False, null=True, unique=True)),
                        ('bot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='conversations.bot')),
                        ('conversation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='conversations.conversation')),
                    ],
                    options={
                        'db_table': 'conversations_event',
                        'ordering': ['id'],
                    },
                ),
                migrations.CreateModel(
                    name='Delivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('delivered', 'Delivered'), ('failed', 'Gave up')], default='pending', max_length=10)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('next_attempt_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('last_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('last_status_code', models.PositiveIntegerField(blank=True, null=True)),
                        ('last_error', models.CharField(blank=True, max_length=500)),
                        ('delivered_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('bot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='conversations.bot')),
                        ('conversation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='conversations.conversation')),
                        ('event', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='delivery', to='webhooks.event')),
                    ],
                    options={
                        'verbose_name_plural': 'deliveries',
                        'db_table': 'conversations_delivery',
                        'ordering': ['id'],
                    },
                ),
                migrations.AddIndex(
                    model_name='event',
                    index=models.Index(fields=['bot', 'feed_seq'], name='event_feed_seq'),
                ),
                migrations.AddIndex(
                    model_name='event',
                    index=models.Index(condition=models.Q(('feed_seq__isnull', True)), fields=['id'], name='event_unsequenced'),
                ),
                migrations.AddIndex(
                    model_name='delivery',
                    index=models.Index(condition=models.Q(('status', 'pending')), fields=['next_attempt_at'], name='delivery_due'),
                ),
                migrations.AddIndex(
                    model_name='delivery',
                    index=models.Index(condition=models.Q(('status', 'pending')), fields=['conversation', 'id'], name='delivery_pending_per_conv'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
