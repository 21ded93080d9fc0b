"""Search (`q`) by alert label: a trigram index on the upper-cased label values, the expression
`alerts.selectors.incident_ids_with_label` searches with. PostgreSQL only, as the incidents'."""

from django.db import migrations

INDEX = (
    "CREATE INDEX IF NOT EXISTS alert_label_values_trgm ON incidents_alert"
    " USING gin (upper((jsonb_path_query_array(labels, '$.*'))::text) gin_trgm_ops)"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS alert_label_values_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
        ("incidents", "0009_search_trigram_indexes"),  # the pg_trgm extension
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
