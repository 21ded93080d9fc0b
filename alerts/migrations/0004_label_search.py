"""Search by label reads a stored text, the alert's label values upper-cased, in place of the
same computed from `labels` for every alert a broad word walks through (a LIKE on a column is
about a fifth of the cost).

Triggers, not the code that writes an alert: every path that writes `labels` (the processor's
set-based batch, a single alert, the admin, a bulk update) keeps the copy exact, in the same
statement. The trigram index moves onto the column (PostgreSQL only, as before); the embedded
SQLite default keeps the copy by an AFTER trigger and searches without an index.
"""

from django.db import migrations, models

VALUES = "upper((jsonb_path_query_array({labels}, '$.*'))::text)"
POSTGRESQL = [
    f"""
    CREATE FUNCTION alert_label_search() RETURNS trigger AS $$
    BEGIN
        NEW.label_search := {VALUES.format(labels="NEW.labels")};
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER alert_label_search BEFORE INSERT OR UPDATE OF labels, label_search
    ON incidents_alert FOR EACH ROW EXECUTE FUNCTION alert_label_search()
    """,
    f"UPDATE incidents_alert SET label_search = {VALUES.format(labels='labels')}",
    "CREATE INDEX IF NOT EXISTS alert_label_search_trgm ON incidents_alert"
    " USING gin (label_search gin_trgm_ops)",
    "DROP INDEX IF EXISTS alert_label_values_trgm",
]
POSTGRESQL_REVERSE = [
    "CREATE INDEX IF NOT EXISTS alert_label_values_trgm ON incidents_alert"
    f" USING gin ({VALUES.format(labels='labels')} gin_trgm_ops)",
    "DROP INDEX IF EXISTS alert_label_search_trgm",
    "DROP TRIGGER alert_label_search ON incidents_alert",
    "DROP FUNCTION alert_label_search()",
]
# SQLite: no BEFORE-trigger assignment, so the row is set right after it is written; the values
# joined by a tab, read through json_each.
COPY = (
    "UPDATE incidents_alert SET label_search = upper((SELECT group_concat(value, char(9))"
    " FROM json_each(NEW.labels))) WHERE id = NEW.id;"
)
SQLITE = [
    f"CREATE TRIGGER alert_label_search_insert AFTER INSERT ON incidents_alert BEGIN {COPY} END",
    "CREATE TRIGGER alert_label_search_update AFTER UPDATE OF labels"
    f" ON incidents_alert BEGIN {COPY} END",
    "UPDATE incidents_alert SET label_search = upper((SELECT group_concat(value, char(9))"
    " FROM json_each(labels)))",
]
SQLITE_REVERSE = [
    "DROP TRIGGER alert_label_search_insert",
    "DROP TRIGGER alert_label_search_update",
]


def run(statements: dict):
    def apply(apps, schema_editor):
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0003_alert_groups"),
        ("incidents", "0011_search_text"),
    ]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="label_search",
            field=models.TextField(default="", editable=False),
        ),
        migrations.RunPython(
            run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
            elidable=False,
        ),
    ]
