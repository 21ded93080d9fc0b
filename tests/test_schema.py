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


def test_every_operation_documents_the_errors_it_can_answer_with_the_error_body():
    out = StringIO()
    call_command("spectacular", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    error = {"$ref": "#/components/schemas/Error"}

    assert set(schema["components"]["schemas"]["Error"]["required"]) == {
        "error",
        "detail",
        "fields",
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"401", "403", "429"}
            if "{" in path:
                expected.add("404")
            if "requestBody" in operation:
                expected.add("400")
            assert expected <= set(responses), (method, path, sorted(responses))
            for code in expected:
                assert responses[code]["content"] == {"application/json": {"schema": error}}
