"""The production shape is the default: DEBUG off unless set, and with the documented
production environment (deploy/systemd/hikeshi.env.example) `check --deploy` finds nothing."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ENV_EXAMPLE = ROOT / "deploy" / "systemd" / "hikeshi.env.example"


def documented_environment() -> dict[str, str]:
    names = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            names[name] = value
    return names


def manage(environment: dict[str, str], tmp_path, *args: str) -> subprocess.CompletedProcess:
    bare = {k: v for k, v in os.environ.items() if k not in documented_environment()}
    bare.pop("DEBUG", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=bare | {"HIKESHI_VAR_DIR": str(tmp_path)} | environment,
        capture_output=True,
        text=True,
    )


def test_debug_is_off_unless_set(tmp_path):
    shell = ["shell", "-v", "0", "-c", "from django.conf import settings; print(settings.DEBUG)"]
    assert manage({}, tmp_path, *shell).stdout.strip() == "False"
    assert manage({"DEBUG": "true"}, tmp_path, *shell).stdout.strip() == "True"


def test_the_documented_production_environment_passes_check_deploy(tmp_path):
    environment = documented_environment() | {"SECRET_KEY": secrets.token_urlsafe(50)}

    checked = manage(environment, tmp_path, "check", "--deploy", "--fail-level", "WARNING")

    assert checked.returncode == 0, checked.stderr
    assert "no issues" in checked.stdout


def test_check_deploy_names_each_setting_the_environment_leaves_out(tmp_path):
    environment = documented_environment()
    for name in (
        "SECRET_KEY",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SESSION_COOKIE_SECURE",
    ):
        del environment[name]

    checked = manage(environment, tmp_path, "check", "--deploy", "--fail-level", "WARNING")

    assert checked.returncode == 1
    for check in ("hikeshi.W001", "security.W008", "security.W004", "security.W012"):
        assert check in checked.stderr, check
