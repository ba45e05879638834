"""Event and Delivery moved to the webhooks app, IdempotencyRecord to the api app.

Their tables stay where they are (see webhooks 0001 and api 0001): this only removes them
from this app's migration state.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("conversations", "0005_encrypt_webhook_secrets"),
        ("webhooks", "0001_initial"),
        ("api", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Delivery"),
                migrations.DeleteModel(name="IdempotencyRecord"),
                migrations.DeleteModel(name="Event"),
            ],
            database_operations=[],
        ),
    ]
