"""The shipped Prometheus rules and Alertmanager config are valid for the real tools."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import need_service

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
THRESHOLDS = {
    "HighCpuUsage": "> 80",
    "HighMemoryUsage": "> 85",
    "HighDiskUsage": "> 90",
    "HighNetworkLatency": "> 0.5",
    "SlowApiResponses": "> 2",
    "HighErrorRate": "> 0.05",
    "TooManyConnections": "> 1000",
    "HighDatabaseConnections": "> 0.8",
}


def run(tool, *args):
    path = shutil.which(tool)
    need_service(f"{tool} (Debian package)", path is not None)
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("promtool", ["check", "rules", str(DEPLOY / "prometheus/rules.yml")]),
        ("amtool", ["check-config", str(DEPLOY / "alertmanager/alertmanager.yml")]),
    ],
)
def test_config_passes_its_tools_check(tool, args):
    result = run(tool, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_runbook_threshold_has_a_rule_with_severity_and_priority():
    rules = {
        rule["alert"]: rule
        for group in yaml.safe_load((DEPLOY / "prometheus/rules.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    assert set(rules) == set(THRESHOLDS)
    for name, threshold in THRESHOLDS.items():
        rule = rules[name]
        assert " ".join(rule["expr"].split()).endswith(threshold), name
        assert rule["labels"]["severity"] in {"critical", "error", "warning", "info"}
        assert rule["labels"]["priority"] in {"P0", "P1", "P2", "P3"}
        assert rule["annotations"]["summary"]
