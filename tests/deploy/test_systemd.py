"""The shipped systemd units and nginx example pass their tools' checks, run what the Procfile
runs, and the example environment names only variables Hikeshi reads."""

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_service

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "deploy" / "systemd"
NGINX_CONF = ROOT / "deploy" / "nginx" / "hikeshi.conf"
ENV_EXAMPLE = SYSTEMD / "hikeshi.env.example"
SERVICES = sorted(SYSTEMD.glob("hikeshi-*.service"))
TARGET = SYSTEMD / "hikeshi.target"
# Where the units expect the checkout, and the port the web unit gives the Procfile's $PORT.
INSTALLED = "/opt/hikeshi"
WEB_PORT = "8000"
EVERY_UNIT = {
    "User": "hikeshi",
    "WorkingDirectory": INSTALLED,
    "EnvironmentFile": "/etc/hikeshi/hikeshi.env",
    "Restart": "on-failure",
    "KillSignal": "SIGTERM",
    "TimeoutStopSec": "15",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
}
# What Hikeshi writes: var/, postmortems, monthly reports. Everything else is read-only.
WRITABLE = {f"{INSTALLED}/var", f"{INSTALLED}/docs/incidents", f"{INSTALLED}/docs/reports"}
# The proxy's settings and gunicorn's sizing, allowed by name beside what settings.py reads.
TLS_VARIABLES = {
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "USE_X_FORWARDED_PROTO",
}
GUNICORN_VARIABLES = {"WEB_CONCURRENCY", "GUNICORN_THREADS"}
PRODUCTION_VARIABLES = (
    {
        "DEBUG",
        "SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "SITE_URL",
        "EMAIL_URL",
        "METRICS_TOKEN",
    }
    | TLS_VARIABLES
    | GUNICORN_VARIABLES
)
# env("NAME"), env.bool("NAME", …), environ.Env().str("NAME"), os.environ["NAME"] / .get("NAME")
ENV_READ = re.compile(
    r"""(?:\benv(?:\.\w+)?\(|\bEnv\(\)\.\w+\(|os\.environ(?:\.get\(|\[)|getenv\()"""
    r"""\s*["']([A-Z][A-Z0-9_]*)["']"""
)
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def tool(name: str) -> str:
    path = shutil.which(name, path=SBIN)
    package = {"systemd-analyze": "systemd"}.get(name, name)
    need_service(f"{name} (Debian package {package})", path is not None)
    return path


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections, each key with its values in order (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def exec_start(path: Path) -> list[str]:
    """ExecStart's words as the process receives them: systemd's `%%` is a literal `%`."""
    [line] = unit(path)["Service"]["ExecStart"]
    words = shlex.split(line)
    for word in words:
        # Any other specifier would be replaced by systemd (celery's %h by a home directory).
        assert "%" not in word.replace("%%", ""), f"{path.name}: systemd specifier in {word!r}"
    return [word.replace("%%", "%") for word in words]


def procfile() -> dict[str, list[str]]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        processes[name.strip()] = shlex.split(command.replace("$PORT", WEB_PORT))
    return processes


def example() -> list[tuple[str, str, str]]:
    """(name, value, the line above) for each assignment of the example environment."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    found = []
    for n, line in enumerate(lines):
        if line.strip() and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"not NAME=value: {line!r}"
            found.append((name, value, lines[n - 1] if n else ""))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_every_procfile_process_has_a_unit_with_the_same_arguments():
    processes = procfile()
    units = {path.name.removeprefix("hikeshi-").removesuffix(".service") for path in SERVICES}

    assert units == set(processes)
    for name, (program, *arguments) in processes.items():
        assert exec_start(SYSTEMD / f"hikeshi-{name}.service") == [
            f"{INSTALLED}/{program}",
            *arguments,
        ], name


@pytest.mark.parametrize("path", SERVICES, ids=lambda path: path.stem)
def test_each_unit_runs_as_hikeshi_sandboxed_restarts_and_stops_in_time(path):
    sections = unit(path)
    service = sections["Service"]

    for key, value in EVERY_UNIT.items():
        assert service.get(key) == [value], f"{path.name}: {key}"
    assert service.get("RestartSec"), path.name
    assert {p for value in service["ReadWritePaths"] for p in value.split()} == WRITABLE
    assert sections["Unit"]["PartOf"] == ["hikeshi.target"]
    assert sections["Install"]["WantedBy"] == ["hikeshi.target"]


def test_beat_is_enabled_machine_by_machine_and_says_one_machine_only():
    target = unit(TARGET)["Unit"]
    pulled = " ".join(target.get("Wants", []) + target.get("Requires", []))

    assert "hikeshi-beat.service" not in pulled
    assert "ONE machine" in (SYSTEMD / "hikeshi-beat.service").read_text()


def test_the_example_environment_names_only_what_hikeshi_reads():
    read = set(ENV_READ.findall((ROOT / "config" / "settings.py").read_text()))
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "EMAIL_URL"} <= read  # the pattern works
    assignments = example()
    names = [name for name, _value, _above in assignments]

    assert sorted(set(names) - read - TLS_VARIABLES - GUNICORN_VARIABLES) == []
    assert sorted(PRODUCTION_VARIABLES - set(names)) == []
    assert len(names) == len(set(names))


def test_the_example_environment_explains_each_value_and_holds_no_secret():
    values = {}
    for name, value, above in example():
        values[name] = value
        assert above.startswith("#"), f"{name} has no comment"
        # Read alike by systemd and by a shell: no quoting, no spaces.
        assert not re.search(r"[\s'\"\\]", value), name
        password = re.match(r"^\w[\w+.-]*://[^:/@]+:([^@]*)@", value)
        assert password is None or password[1] == "CHANGE-ME", name

    assert values["DEBUG"] == "false"
    assert "CHANGE-ME" in values["SECRET_KEY"]
    assert "CHANGE-ME" in values["METRICS_TOKEN"]


def test_nginx_proxies_to_the_web_unit_with_the_forwarded_scheme():
    words = exec_start(SYSTEMD / "hikeshi-web.service")
    bind = words[words.index("--bind") + 1]
    text = NGINX_CONF.read_text()
    upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", text, re.S)

    assert re.findall(r"^\s*server\s+([^\s;]+)", upstream[2], re.M) == [bind]
    assert f"proxy_pass http://{upstream[1]};" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "proxy_set_header Host $host;" in text


def test_systemd_analyze_verifies_every_unit(tmp_path):
    """verify needs each Exec binary to exist: the copies point at this checkout and its
    virtualenv, run as the current user, read a copy of the example environment."""
    analyze = tool("systemd-analyze")
    venv = ROOT / ".venv" / "bin"
    venv = venv if (venv / "python").exists() else Path(sys.executable).parent
    environment = tmp_path / "hikeshi.env"
    environment.write_text(ENV_EXAMPLE.read_text())
    copies = []
    for path in [*SERVICES, TARGET]:
        text = path.read_text()
        text = text.replace(f"{INSTALLED}/.venv/bin/", f"{venv}/")
        text = text.replace("/etc/hikeshi/hikeshi.env", str(environment))
        text = text.replace(INSTALLED, str(ROOT))
        text = re.sub(r"(?m)^User=.*$", f"User={os.getuid()}", text)
        text = re.sub(r"(?m)^Group=.*$", f"Group={os.getgid()}", text)
        copy = tmp_path / path.name
        copy.write_text(text)
        copies.append(copy)

    result = subprocess.run(
        [analyze, "verify", "--man=no", *map(str, copies)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    output = result.stdout + result.stderr
    # It warns about a bad key or value and still exits 0: every line about ours fails.
    ours = [line for line in output.splitlines() if any(c.name in line for c in copies)]
    assert result.returncode == 0, output
    assert ours == [], output


def test_nginx_accepts_the_example_with_a_certificate(tmp_path):
    nginx = tool("nginx")
    openssl = tool("openssl")
    key, certificate = tmp_path / "privkey.pem", tmp_path / "fullchain.pem"
    made = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-subj", "/CN=hikeshi.example.jp"]
        + ["-keyout", str(key), "-out", str(certificate)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr

    text = NGINX_CONF.read_text()
    text, certificates = re.subn(
        r"(?m)^(\s*)ssl_certificate(_key)?\s+[^;]+;",
        lambda m: f"{m[1]}ssl_certificate{m[2] or ''} {key if m[2] else certificate};",
        text,
    )
    assert certificates == 2
    # `nginx -t` binds what it listens on: free loopback ports instead of 80 and 443.
    listened = set(re.findall(r"listen\s+(?:\[::\]:)?(\d+)", text))
    ports = {port: free_port() for port in listened}
    assert set(ports) == {"80", "443"}

    def listen(m: re.Match) -> str:
        if m[2] and not ipv6_loopback():
            return f"{m[1]}# (no IPv6 here)"
        return f"{m[1]}listen {'[::1]' if m[2] else '127.0.0.1'}:{ports[m[3]]}"

    text = re.sub(r"(?m)^(\s*)listen\s+(\[::\]:)?(\d+)", listen, text)
    (tmp_path / "hikeshi.conf").write_text(text)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    wrapper = tmp_path / "nginx.conf"
    wrapper.write_text(
        f"pid {tmp_path / 'nginx.pid'};\n"
        f"error_log {tmp_path / 'error.log'};\n"
        "events {}\n"
        "http {\n"
        "    access_log off;\n"
        f"{temp}\n"
        f"    include {tmp_path / 'hikeshi.conf'};\n"
        "}\n"
    )

    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(wrapper)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "test is successful" in result.stderr
