from io import StringIO

import yaml
from django.core.management import call_command


def test_openapi_schema_builds_without_warnings_and_documents_errors():
    out = StringIO()
    call_command("spectacular", "--fail-on-warn", "--validate", stdout=out)
    schema = yaml.safe_load(out.getvalue())

    transition = schema["paths"]["/api/v1/incidents/{key}/{action}/"]["post"]
    assert {"200", "400", "401", "403", "404", "409"} <= set(transition["responses"])
    assert "tokenAuth" in schema["components"]["securitySchemes"]
