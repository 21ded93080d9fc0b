"""Search (`q`) by words: trigram indexes on the upper-cased title and summary, the expressions
`incidents.filters` searches with. PostgreSQL only: the embedded SQLite default migrates past
them and searches without."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = {
    "incident_title_trgm": "upper(title)",
    "incident_summary_trgm": "upper(summary)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON incidents_incident"
            f" USING gin ({expression} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("incidents", "0008_timeline_vendor_ticket_kinds")]

    operations = [
        TrigramExtension(),  # skips itself on other databases
        migrations.RunPython(create, drop, elidable=False),
    ]
