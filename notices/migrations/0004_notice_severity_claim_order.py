"""Notices carry their incident's severity, kept equal to it by the database, so that the
outbox's claim walks one index in its order (most severe first, then oldest) and stops at its
batch instead of sorting the pending backlog through a join on every claim.

Triggers, not the code that changes an incident: every path that writes an incident's severity
(a service, the admin, a bulk update) or a notice's incident keeps the copy exact, in the same
transaction.
"""

from django.db import migrations, models


POSTGRESQL = [
    """
    CREATE FUNCTION notice_severity_of_incident() RETURNS trigger AS $$
    BEGIN
        NEW.severity := (SELECT severity FROM incidents_incident WHERE id = NEW.incident_id);
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER notice_severity BEFORE INSERT OR UPDATE OF incident_id, severity
    ON escalation_notice FOR EACH ROW EXECUTE FUNCTION notice_severity_of_incident()
    """,
    """
    CREATE FUNCTION incident_severity_to_notices() RETURNS trigger AS $$
    BEGIN
        UPDATE escalation_notice SET severity = NEW.severity WHERE incident_id = NEW.id;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER incident_severity_to_notices AFTER UPDATE OF severity ON incidents_incident
    FOR EACH ROW WHEN (OLD.severity IS DISTINCT FROM NEW.severity)
    EXECUTE FUNCTION incident_severity_to_notices()
    """,
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER incident_severity_to_notices ON incidents_incident",
    "DROP FUNCTION incident_severity_to_notices()",
    "DROP TRIGGER notice_severity ON escalation_notice",
    "DROP FUNCTION notice_severity_of_incident()",
]
# SQLite (development): no BEFORE-trigger assignment, so the row is set right after it is written.
COPY = (
    "UPDATE escalation_notice SET severity = (SELECT severity FROM incidents_incident"
    " WHERE id = NEW.incident_id) WHERE id = NEW.id;"
)
SQLITE = [
    f"CREATE TRIGGER notice_severity_insert AFTER INSERT ON escalation_notice BEGIN {COPY} END",
    "CREATE TRIGGER notice_severity_update AFTER UPDATE OF incident_id, severity"
    f" ON escalation_notice BEGIN {COPY} END",
    "CREATE TRIGGER incident_severity_to_notices AFTER UPDATE OF severity ON incidents_incident"
    " WHEN OLD.severity IS NOT NEW.severity BEGIN UPDATE escalation_notice"
    " SET severity = NEW.severity WHERE incident_id = NEW.id; END",
]
SQLITE_REVERSE = [
    "DROP TRIGGER notice_severity_insert",
    "DROP TRIGGER notice_severity_update",
    "DROP TRIGGER incident_severity_to_notices",
]
BACKFILL = (
    "UPDATE escalation_notice SET severity = (SELECT severity FROM incidents_incident"
    " WHERE incidents_incident.id = escalation_notice.incident_id)"
    " WHERE incident_id IS NOT NULL"
)


def _run(schema_editor, statements: list[str]) -> None:
    for statement in statements:
        schema_editor.execute(statement)


def triggers_create(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    _run(schema_editor, {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(vendor, []))
    schema_editor.execute(BACKFILL)


def triggers_drop(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    _run(schema_editor, {"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}.get(vendor, []))


class Migration(migrations.Migration):

    dependencies = [
        ('escalation', '0005_level_schedules'),
        ('incidents', '0010_incident_list_order_index'),
        ('notices', '0003_handoffs'),
    ]

    operations = [
        migrations.AddField(
            model_name='notice',
            name='severity',
            field=models.CharField(choices=[('P0', 'P0 Critical'), ('P1', 'P1 High'), ('P2', 'P2 Medium'), ('P3', 'P3 Low')], editable=False, max_length=2, null=True, verbose_name='severity'),
        ),
        migrations.AddIndex(
            model_name='notice',
            index=models.Index(fields=['severity', 'id'], condition=models.Q(('status', 'pending'), models.Q(models.Q(('kind', 'notice'), _negated=True), ('delivery', 'immediate'), _connector='OR'), ('channel', 'email')), name='notice_claim_email'),
        ),
        migrations.AddIndex(
            model_name='notice',
            index=models.Index(fields=['severity', 'id'], condition=models.Q(('status', 'pending'), models.Q(models.Q(('kind', 'notice'), _negated=True), ('delivery', 'immediate'), _connector='OR'), models.Q(('channel', 'email'), _negated=True)), name='notice_claim_chat'),
        ),
        migrations.RunPython(triggers_create, triggers_drop),
    ]
