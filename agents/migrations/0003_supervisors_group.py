"""The "Supervisors" group (agents.roles), so that an admin only has to add people to it."""

from django.db import migrations


def create_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.get_or_create(name="Supervisors")


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0002_routing"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    # Reversing leaves the group: it may hold people an admin put there.
    operations = [migrations.RunPython(create_group, migrations.RunPython.noop)]
