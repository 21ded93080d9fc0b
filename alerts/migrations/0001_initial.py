
import django.db.models.deletion
from django.db import migrations, models


def keep_permissions(apps, schema_editor):
    """Groups keep their alert permissions: the content types move with the models."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="incidents", model__in=["alert", "alertkey"]).update(
        app_label="alerts"
    )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('incidents', '0007_alerts_move_to_alerts'),
        ('integrations', '0003_severity_mapping_validated'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        # Alerts move here from the incidents app; their tables and rows stay as they are.
        migrations.SeparateDatabaseAndState(state_operations=[migrations.CreateModel(
            name='Alert',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('fingerprint', models.CharField(max_length=255, verbose_name='fingerprint / dedup key')),
                ('status', models.CharField(choices=[('firing', 'Firing'), ('resolved', 'Resolved')], max_length=8, verbose_name='status')),
                ('summary', models.CharField(blank=True, max_length=1024, verbose_name='summary')),
                ('source', models.CharField(blank=True, max_length=255, verbose_name='source')),
                ('severity', models.CharField(choices=[('P0', 'P0 Critical'), ('P1', 'P1 High'), ('P2', 'P2 Medium'), ('P3', 'P3 Low')], max_length=2, verbose_name='severity')),
                ('labels', models.JSONField(blank=True, default=dict, verbose_name='labels')),
                ('annotations', models.JSONField(blank=True, default=dict, verbose_name='annotations')),
                ('links', models.JSONField(blank=True, default=list, verbose_name='links')),
                ('starts_at', models.DateTimeField(blank=True, null=True, verbose_name='starts at')),
                ('ends_at', models.DateTimeField(blank=True, null=True, verbose_name='ends at')),
                ('raw', models.JSONField(blank=True, default=dict, verbose_name='raw payload')),
                ('first_received_at', models.DateTimeField(verbose_name='first received')),
                ('last_received_at', models.DateTimeField(verbose_name='last received')),
                ('times_received', models.PositiveIntegerField(default=1, verbose_name='times received')),
                ('incident', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='incidents.incident', verbose_name='incident')),
                ('integration', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='alerts', to='integrations.integration', verbose_name='integration')),
            ],
            options={
                'verbose_name': 'alert',
                'verbose_name_plural': 'alerts',
                'db_table': 'incidents_alert',
                'ordering': ['first_received_at', 'pk'],
                'constraints': [models.UniqueConstraint(fields=('incident', 'integration', 'fingerprint'), name='one_alert_per_fingerprint')],
            },
        ),
        migrations.CreateModel(
            name='AlertKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=255)),
                ('incident', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='alert_keys', to='incidents.incident')),
                ('integration', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='integrations.integration')),
            ],
            options={
                'db_table': 'incidents_alertkey',
                'constraints': [models.UniqueConstraint(fields=('integration', 'key'), name='one_open_incident_per_key')],
            },
        )]),
        migrations.RunPython(keep_permissions, migrations.RunPython.noop),
    ]
