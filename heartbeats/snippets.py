"""The lines a job's owner pastes: curl at the end of the job, as the README shows."""

from __future__ import annotations

from .models import Heartbeat


def heartbeat_snippet(heartbeat: Heartbeat) -> str:
    url = heartbeat.ping_url()
    return (
        f"# start (optional), then success or failure with the job's output as the log\n"
        f"curl -fsS -m 10 --retry 5 -o /dev/null {url}/start\n"
        f"if OUTPUT=$(your-job 2>&1); then\n"
        f'  curl -fsS -m 10 --retry 5 -o /dev/null --data-binary "$OUTPUT" {url}\n'
        f"else\n"
        f'  curl -fsS -m 10 --retry 5 -o /dev/null --data-binary "$OUTPUT" {url}/fail\n'
        f"fi\n"
    )
