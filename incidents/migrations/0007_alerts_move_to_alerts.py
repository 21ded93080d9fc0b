from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0006_incident_escalation'),
    ]

    operations = [
        # Alerts move to the alerts app (alerts/migrations/0001); their tables stay.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name='alertkey', name='incident'),
                migrations.RemoveField(model_name='alertkey', name='integration'),
                migrations.DeleteModel(name='Alert'),
                migrations.DeleteModel(name='AlertKey'),
            ]
        ),
    ]
