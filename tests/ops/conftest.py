from tests.escalation.conftest import smtp, worker_env  # noqa: F401 — shared fixtures
