"""The runbook's 監視対象 on the board, read from Prometheus (PROMETHEUS_URL) with the very
expressions of `deploy/prometheus/rules.yml`: one source for the alerts and the board.

Each vital is the rule's expression without its threshold, its current value (the worst
series), and the last hour as a sparkline. The business metrics of `board.yml` are shown as
trends when their series exist. Prometheus unreachable: the panel says so; the board works.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from django.conf import settings
from django.core.cache import cache

DEPLOY = Path(settings.BASE_DIR) / "deploy" / "prometheus"
THRESHOLD = re.compile(r"^(?P<expr>.*?)\s*(?P<op>>=|<=|>|<)\s*(?P<threshold>[-0-9.e]+)\s*$", re.S)
TIMEOUT_SECONDS = 2.0
# Every open board refreshes every few seconds; Prometheus scrapes every 15 s or so.
CACHE_SECONDS = 10


@dataclass(frozen=True)
class Vital:
    name: str
    label: str
    expr: str
    op: str
    threshold: float


@dataclass
class Reading:
    vital: Vital
    value: float | None = None
    series: list[float] = field(default_factory=list)

    @property
    def breached(self) -> bool:
        if self.value is None:
            return False
        v, t = self.value, self.vital.threshold
        return {">": v > t, ">=": v >= t, "<": v < t, "<=": v <= t}[self.vital.op]

    @property
    def sparkline(self) -> str:
        """SVG polyline points, 100 × 20, for the last hour."""
        if len(self.series) < 2:
            return ""
        low, high = min(self.series), max(self.series)
        span = (high - low) or 1.0
        step = 100 / (len(self.series) - 1)
        return " ".join(
            f"{n * step:.1f},{20 - (v - low) / span * 18 - 1:.1f}"
            for n, v in enumerate(self.series)
        )


@functools.cache
def vitals_defined() -> list[Vital]:
    rules = yaml.safe_load((DEPLOY / "rules.yml").read_text())
    found = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            match = THRESHOLD.match(" ".join(rule["expr"].split()))
            if match:
                label = rule["annotations"].get("runbook", rule["alert"]).removeprefix("監視対象: ")
                found.append(
                    Vital(
                        name=rule["alert"],
                        label=label,
                        expr=match["expr"],
                        op=match["op"],
                        threshold=float(match["threshold"]),
                    )
                )
    return found


@functools.cache
def business_defined() -> list[dict]:
    path = DEPLOY / "board.yml"
    return yaml.safe_load(path.read_text()).get("business", []) if path.exists() else []


class Unreachable(Exception):
    pass


def _query(client: httpx.Client, path: str, **params) -> list[dict]:
    try:
        response = client.get(f"{settings.PROMETHEUS_URL.rstrip('/')}{path}", params=params)
        response.raise_for_status()
        return response.json()["data"]["result"]
    except (httpx.HTTPError, ValueError, KeyError) as error:
        raise Unreachable(str(error)) from error


def _worst(results: list[dict]) -> float | None:
    values = [float(r["value"][1]) for r in results]
    return max(values) if values else None


def _range(results: list[dict]) -> list[float]:
    """The worst series' values over the range, point by point."""
    points: dict[float, float] = {}
    for result in results:
        for at, value in result["values"]:
            points[at] = max(points.get(at, float("-inf")), float(value))
    return [points[at] for at in sorted(points)]


def vitals() -> dict:
    """What the board shows: a reading at most CACHE_SECONDS old, shared by every viewer."""
    return cache.get_or_set("ops:vitals", vitals_read, CACHE_SECONDS)


def vitals_read() -> dict:
    """{"readings": [...], "business": [...]} or {"error": why} when Prometheus is away."""
    now = time.time()
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            readings = []
            for vital in vitals_defined():
                reading = Reading(vital, _worst(_query(client, "/api/v1/query", query=vital.expr)))
                reading.series = _range(
                    _query(
                        client,
                        "/api/v1/query_range",
                        query=vital.expr,
                        start=now - 3600,
                        end=now,
                        step=60,
                    )
                )
                readings.append(reading)
            business = []
            for metric in business_defined():
                series = _range(
                    _query(
                        client,
                        "/api/v1/query_range",
                        query=metric["expr"],
                        start=now - 7 * 86400,
                        end=now,
                        step=3600,
                    )
                )
                if series:
                    business.append(
                        {"name": metric["name"], "value": series[-1], "reading": _trend(series)}
                    )
    except Unreachable as error:
        return {"error": str(error)[:200]}
    return {"readings": readings, "business": business}


def _trend(series: list[float]) -> Reading:
    reading = Reading(Vital("", "", "", ">", float("inf")), series[-1])
    reading.series = series
    return reading
