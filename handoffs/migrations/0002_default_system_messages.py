from django.db import migrations

from handoffs.defaults import ensure_default_system_messages


def add_defaults(apps, schema_editor):
    ensure_default_system_messages(apps.get_model("handoffs", "SystemMessage"))


class Migration(migrations.Migration):
    dependencies = [("handoffs", "0001_initial")]
    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
