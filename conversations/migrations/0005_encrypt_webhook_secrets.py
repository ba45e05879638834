"""Webhook secrets stored encrypted: widen the column, then encrypt the plaintext rows.

Raw SQL on purpose: the field now decrypts on load, and these rows are not encrypted yet.
"""

from django.db import migrations

import conversations.crypto


def encrypt_plaintext(apps, schema_editor):
    table = apps.get_model("conversations", "Bot")._meta.db_table
    connection = schema_editor.connection
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, webhook_secret FROM {quoted}")
        rows = cursor.fetchall()
        for pk, value in rows:
            if value and value.startswith("whsec_"):
                cursor.execute(
                    f"UPDATE {quoted} SET webhook_secret = %s WHERE id = %s",
                    [conversations.crypto.encrypt(value), pk],
                )


def decrypt_to_plaintext(apps, schema_editor):
    table = apps.get_model("conversations", "Bot")._meta.db_table
    connection = schema_editor.connection
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, webhook_secret FROM {quoted}")
        for pk, value in cursor.fetchall():
            if value and not value.startswith("whsec_"):
                try:
                    plaintext = conversations.crypto.decrypt(value)
                except conversations.crypto.SecretUnreadable:
                    continue  # no key opens it: left as is, to be rotated
                cursor.execute(
                    f"UPDATE {quoted} SET webhook_secret = %s WHERE id = %s", [plaintext, pk]
                )


class Migration(migrations.Migration):

    dependencies = [
        ("conversations", "0004_webhook_url_validation"),
    ]

    operations = [
        migrations.AlterField(
            model_name="bot",
            name="webhook_secret",
            field=conversations.crypto.EncryptedSecretField(editable=False, max_length=255),
        ),
        migrations.RunPython(encrypt_plaintext, decrypt_to_plaintext),
    ]
