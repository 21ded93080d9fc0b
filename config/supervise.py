"""`make run`: the Procfile's processes under supervisord, each restarted when it dies.

One process dying must not take the service down (the timers worker killed took the web with
it under a runner that stops everything when one exits). supervisord restarts a process that
exits, backs off when it keeps failing at start-up, and logs why each one exited. The Procfile
stays the one list of processes: this writes supervisord's configuration from it at start.

    python -m config.supervise --port 8000 [--dev]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A process that exits within this many seconds of its start failed to start: it is tried
# again after 1, 2, 3, … seconds, up to START_RETRIES times, then left stopped (FATAL).
START_SECONDS = 3
START_RETRIES = 10
# Longer than gunicorn's graceful timeout and a worker's warm shutdown.
STOP_WAIT_SECONDS = 15


def procfile() -> dict[str, str]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() and not name.startswith("#"):
            processes[name.strip()] = command.strip()
    return processes


def program(name: str, command: str, port: int, *, signal_group: bool = False) -> str:
    words = shlex.split(command.replace("$PORT", str(port)))
    if words[0].startswith(".venv/"):
        words[0] = str(ROOT / words[0])
    # supervisord reads its files with %-interpolation: celery's `%h` must stay itself.
    line = shlex.join(words).replace("%", "%%")
    return f"""
[program:{name}]
command={line}
directory={ROOT}
autorestart=true
startsecs={START_SECONDS}
startretries={START_RETRIES}
stopsignal=TERM
stopwaitsecs={STOP_WAIT_SECONDS}
stopasgroup={str(signal_group).lower()}
killasgroup=true
redirect_stderr=true
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
"""


def configuration(var: Path, port: int, dev: bool) -> str:
    processes = procfile()
    if dev:
        processes["web"] = f".venv/bin/python manage.py runserver 127.0.0.1:{port}"
    sections = [
        f"""[supervisord]
nodaemon=true
; In the foreground supervisord already logs to the terminal: why each process exited.
logfile=/dev/null
logfile_maxbytes=0
loglevel=info
pidfile={var}/supervisord.pid
directory={ROOT}

[unix_http_server]
file={var}/supervisor.sock
chmod=0700

[supervisorctl]
serverurl=unix://{var}/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
"""
    ]
    # One group: supervisord stops a group's processes side by side, groups one after another.
    sections.append(f"\n[group:hikeshi]\nprograms={','.join(processes)}\n")
    # Celery, gunicorn and the alert processor stop their own children (a SIGTERM to a pool
    # child makes Celery replace it); runserver's reloader does not, so its group is signalled.
    sections += [
        program(name, command, port, signal_group=dev and name == "web")
        for name, command in processes.items()
    ]
    return "".join(sections)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--dev", action="store_true", help="runserver with reload for the web")
    options = parser.parse_args(argv)

    var = Path(os.environ.get("HIKESHI_VAR_DIR", ROOT / "var")).resolve()
    var.mkdir(parents=True, exist_ok=True)
    # The web's workers merge their request metrics here; a new run starts it empty.
    metrics = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(var / "prometheus")))
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True)
    conf = var / "supervisord.conf"
    conf.write_text(configuration(var, options.port, options.dev))
    supervisord = str(Path(sys.executable).parent / "supervisord")
    os.execv(supervisord, [supervisord, "--nodaemon", "--configuration", str(conf)])


if __name__ == "__main__":
    main()
