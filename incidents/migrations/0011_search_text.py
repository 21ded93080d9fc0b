"""Search by words reads one stored text, the title and the summary upper-cased (a generated
column), through one trigram index in place of the two on `upper(title)` and
`upper(summary)`. PostgreSQL only for the index, as in 0009."""

import django.db.models.functions.text
from django.db import migrations, models

INDEX = (
    "CREATE INDEX IF NOT EXISTS incident_search_trgm ON incidents_incident"
    " USING gin (search_text gin_trgm_ops)"
)
OLD = {
    "incident_title_trgm": "upper(title)",
    "incident_summary_trgm": "upper(summary)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(INDEX)
    for name in OLD:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, expression in OLD.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON incidents_incident"
            f" USING gin ({expression} gin_trgm_ops)"
        )
    schema_editor.execute("DROP INDEX IF EXISTS incident_search_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0010_incident_list_order_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="search_text",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.functions.text.Upper(
                    django.db.models.functions.text.Concat("title", models.Value("\n"), "summary", output_field=models.TextField())
                ),
                output_field=models.TextField(),
            ),
        ),
        migrations.RunPython(create, drop, elidable=False),
    ]
