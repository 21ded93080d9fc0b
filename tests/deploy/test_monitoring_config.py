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


def test_the_rules_for_hikeshi_itself_pass_their_unit_tests():
    checked = run("promtool", "check", "rules", str(DEPLOY / "prometheus/hikeshi.rules.yml"))
    tested = run("promtool", "test", "rules", str(DEPLOY / "prometheus/hikeshi.rules.test.yml"))

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_shipped_prometheus_configuration_scrapes_hikeshi_with_its_token(tmp_path):
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "hikeshi")
    assert job["metrics_path"] == "/metrics"
    token = tmp_path / "token"
    token.write_text("secret")
    job["authorization"]["credentials_file"] = str(token)
    config["rule_files"] = [str(DEPLOY / "prometheus" / name) for name in config["rule_files"]]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))

    result = run("promtool", "check", "config", str(tmp_path / "prometheus.yml"))

    assert result.returncode == 0, result.stdout + result.stderr
