from django.db import migrations

# The Botpress HITL-next defaults, shipped as data so admins can edit them.
DEFAULTS = {
    ("transfer", "en"): "You are being transferred to an agent.",
    ("transfer", "fr"): "Vous êtes transféré(e) à un agent.",
    ("transfer", "es"): "Se le está transfiriendo a un agente.",
    ("assign", "en"): "You have been assigned to our agent {{agentName}}.",
    ("assign", "fr"): "Vous avez été assigné(e) à notre agent(e) {{agentName}}.",
    ("assign", "es"): "Ha sido asignado a nuestro agente {{agentName}}.",
}


def add_defaults(apps, schema_editor):
    SystemMessage = apps.get_model("handoffs", "SystemMessage")
    for (kind, language), text in DEFAULTS.items():
        SystemMessage.objects.get_or_create(kind=kind, language=language, defaults={"text": text})


class Migration(migrations.Migration):
    dependencies = [("handoffs", "0001_initial")]
    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
