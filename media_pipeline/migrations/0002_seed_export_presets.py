"""Seed the export presets from media_pipeline.ops.presets (editable afterwards; re-running adds only
missing ones)."""

from django.db import migrations


def seed(apps, schema_editor):
    from media_pipeline.ops.presets import PRESETS

    ExportPreset = apps.get_model("media_pipeline", "ExportPreset")
    for preset in PRESETS.values():
        fields = preset.as_dict()
        ExportPreset.objects.get_or_create(name=fields.pop("name"), defaults=fields)


class Migration(migrations.Migration):
    dependencies = [("media_pipeline", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
