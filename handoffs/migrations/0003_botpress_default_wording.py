from django.db import migrations

from handoffs.defaults import restore_botpress_wording


def restore(apps, schema_editor):
    restore_botpress_wording(apps.get_model("handoffs", "SystemMessage"))


class Migration(migrations.Migration):
    dependencies = [("handoffs", "0002_default_system_messages")]
    operations = [migrations.RunPython(restore, migrations.RunPython.noop)]
