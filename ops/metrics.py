"""`/metrics` for Prometheus: what Hikeshi holds, read from the database when scraped (so any
number of web processes answer the same), beside the request metrics of django-prometheus
(per process, or merged across gunicorn workers in PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import hmac
import os
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from alerts.models import Alert
from config.api import error_body
from escalation.models import Escalation
from incidents.models import ACTIVE_STATES, Incident
from integrations.models import AlertDelivery
from notices.models import Notice
from pulses.models import Pulse

DELIVERY_BUCKETS = (1, 5, 15, 30, 60, 300, 900)


def _seconds(delta: timedelta | None) -> float:
    return max(0.0, delta.total_seconds()) if delta else 0.0


class HikeshiCollector:
    """Scraped metrics, each one indexed query."""

    def collect(self):
        now = timezone.now()
        open_incidents = GaugeMetricFamily(
            "hikeshi_incidents_open", "Active incidents", labels=["severity", "state"]
        )
        for row in (
            Incident.objects.filter(state__in=ACTIVE_STATES)
            .values("severity", "state")
            .annotate(n=Count("pk"))
            .order_by()
        ):
            open_incidents.add_metric([row["severity"], row["state"]], row["n"])
        yield open_incidents

        fired = CounterMetricFamily(
            "hikeshi_escalations", "Escalation levels reached", labels=["level"]
        )
        for level, n in Escalation.objects.values_list("level").annotate(n=Count("pk")).order_by():
            fired.add_metric([str(level)], n)
        yield fired

        due = Incident.objects.filter(next_escalation_at__lte=now)
        oldest = due.order_by("next_escalation_at").values_list("next_escalation_at", flat=True)
        lag = GaugeMetricFamily(
            "hikeshi_sweeper_lag_seconds", "How long the oldest due escalation has waited"
        )
        lag.add_metric([], _seconds(now - oldest[0]) if oldest else 0.0)
        yield lag
        overdue = GaugeMetricFamily(
            "hikeshi_escalations_overdue",
            "Incidents whose deadline passed more than three sweep intervals ago",
        )
        limit = now - timedelta(seconds=3 * settings.ESCALATION_SWEEP_SECONDS)
        overdue.add_metric([], due.filter(next_escalation_at__lt=limit).count())
        yield overdue

        notices = GaugeMetricFamily(
            "hikeshi_notices", "Notices by channel and status", labels=["channel", "status"]
        )
        for row in Notice.objects.values("channel", "status").annotate(n=Count("pk")).order_by():
            notices.add_metric([row["channel"], row["status"]], row["n"])
        yield notices
        yield self._delivery_latency(now)

        waiting = AlertDelivery.objects.filter(failed_at__isnull=True).count()
        set_aside = AlertDelivery.objects.filter(failed_at__isnull=False).count()
        yield GaugeMetricFamily(
            "hikeshi_alert_deliveries_waiting", "Accepted alerts not applied yet", value=waiting
        )
        yield GaugeMetricFamily(
            "hikeshi_alert_deliveries_set_aside",
            "Deliveries set aside after repeated failures",
            value=set_aside,
        )
        applied = CounterMetricFamily(
            "hikeshi_alert_deliveries_applied",
            "Deliveries applied by each lane since it started",
            labels=["lane"],
        )
        for pulse in Pulse.objects.filter(name__startswith="alerts:lane:"):
            applied.add_metric([pulse.name.rsplit(":", 1)[1]], pulse.details.get("applied", 0))
        yield applied

        received = CounterMetricFamily(
            "hikeshi_alerts_received", "Alerts received, repeats included", labels=["integration"]
        )
        for name, total in (
            Alert.objects.values_list("integration__name")
            .annotate(total=Sum("times_received"))
            .order_by()
        ):
            received.add_metric([name], total or 0)
        yield received

        up = GaugeMetricFamily(
            "hikeshi_process_up", "1 while the process writes its pulse", labels=["process"]
        )
        age = GaugeMetricFamily(
            "hikeshi_pulse_age_seconds",
            "Seconds since the process's last pulse",
            labels=["process"],
        )
        fresh = now - timedelta(seconds=3 * settings.PULSE_SECONDS)
        for pulse in Pulse.objects.all():
            up.add_metric([pulse.name], 1 if pulse.at >= fresh else 0)
            age.add_metric([pulse.name], _seconds(now - pulse.at))
        yield up
        yield age

    def _delivery_latency(self, now):
        """From an escalation's deadline to its notice sent, over the notices of the last hour
        (a gauge histogram: a window, not a counter since the start)."""
        latency = ExpressionWrapper(
            F("sent_at") - F("escalation__deadline"), output_field=DurationField()
        )
        recent = (
            Notice.objects.filter(
                status=Notice.Status.SENT,
                sent_at__gte=now - timedelta(hours=1),
                escalation__isnull=False,
            )
            .annotate(latency=latency)
            .values_list("latency", flat=True)
        )
        seconds = sorted(_seconds(value) for value in recent)
        buckets = [(str(b), sum(1 for s in seconds if s <= b)) for b in DELIVERY_BUCKETS]
        buckets.append(("+Inf", len(seconds)))
        family = GaugeHistogramMetricFamily(
            "hikeshi_notice_delivery_seconds",
            "Escalation notices sent in the last hour, seconds from deadline to sent",
        )
        family.add_metric([], buckets, gsum_value=sum(seconds))
        return family


HIKESHI = CollectorRegistry(auto_describe=False)
HIKESHI.register(HikeshiCollector())


def _process_metrics() -> bytes:
    """django-prometheus' request metrics: this process's, or every worker's when gunicorn
    runs with PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@never_cache
@require_GET
def metrics(request):
    if settings.METRICS_TOKEN:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        expected = settings.METRICS_TOKEN.encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), expected
        ):
            body = error_body("authentication_failed", "A METRICS_TOKEN bearer token is required.")
            return JsonResponse(body, status=401)
    return HttpResponse(
        generate_latest(HIKESHI) + _process_metrics(), content_type=CONTENT_TYPE_LATEST
    )
