from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('escalation', '0002_message_notices'),
    ]

    operations = [
        # The outbox moves to the notices app (notices/migrations/0001); its table stays.
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name='Notice')]),
    ]
