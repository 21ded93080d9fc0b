
import django.db.models.deletion
from django.db import migrations, models


def keep_permissions_and_schedule(apps, schema_editor):
    """Groups keep their notice permissions (the content type moves with the model), and the
    beat's outbox sweep keeps running under the task's new name."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="escalation", model="notice").update(app_label="notices")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    old = PeriodicTask.objects.filter(task="escalation.notices_deliver")
    if PeriodicTask.objects.filter(name="notices: deliver pending notices").exists():
        old.delete()
    else:
        old.update(task="notices.deliver", name="notices: deliver pending notices")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('escalation', '0003_notice_moves_to_notices'),
        ('incidents', '0006_incident_escalation'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        # The outbox moves here from the escalation app; its table and rows stay as they are.
        migrations.SeparateDatabaseAndState(state_operations=[migrations.CreateModel(
            name='Notice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('notice', 'Escalation notice'), ('digest', 'Hourly digest'), ('report', 'Daily report'), ('message', 'Message')], default='notice', max_length=8, verbose_name='kind')),
                ('recipient', models.EmailField(max_length=254, verbose_name='recipient')),
                ('recipient_name', models.CharField(blank=True, max_length=200, verbose_name='recipient name')),
                ('language', models.CharField(choices=[('ja', 'Japanese'), ('en', 'English')], default='ja', max_length=2, verbose_name='language')),
                ('channel', models.CharField(default='email', editable=False, max_length=8, verbose_name='channel')),
                ('delivery', models.CharField(choices=[('immediate', 'Immediately'), ('hourly', 'Hourly digest'), ('daily', 'Daily report')], max_length=16, verbose_name='delivery')),
                ('period', models.DateTimeField(blank=True, null=True, verbose_name='period')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed')], default='pending', max_length=8, verbose_name='status')),
                ('attempts', models.PositiveSmallIntegerField(default=0, verbose_name='attempts')),
                ('last_error', models.TextField(blank=True, verbose_name='last error')),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='next attempt')),
                ('claimed_at', models.DateTimeField(blank=True, null=True, verbose_name='claimed at')),
                ('sent_at', models.DateTimeField(blank=True, null=True, verbose_name='sent at')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True, verbose_name='created at')),
                ('data', models.JSONField(blank=True, default=dict, verbose_name='data')),
                ('digest', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='items', to='notices.notice', verbose_name='digest')),
                ('escalation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='notices', to='escalation.escalation', verbose_name='escalation')),
                ('incident', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='notices', to='incidents.incident', verbose_name='incident')),
            ],
            options={
                'verbose_name': 'notice',
                'verbose_name_plural': 'notices',
                'db_table': 'escalation_notice',
                'ordering': ['-created_at', '-pk'],
                'permissions': [('retry_notice', 'Can retry failed notices')],
                'indexes': [models.Index(condition=models.Q(('status__in', ['pending', 'sending'])), fields=['status', 'next_attempt_at'], name='notice_outbox')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('escalation__isnull', False)), fields=('escalation', 'recipient'), name='one_notice_per_recipient_per_escalation'), models.UniqueConstraint(condition=models.Q(('period__isnull', False)), fields=('kind', 'period', 'recipient'), name='one_digest_per_recipient_per_period')],
            },
        )]),
        migrations.RunPython(keep_permissions_and_schedule, migrations.RunPython.noop),
    ]
