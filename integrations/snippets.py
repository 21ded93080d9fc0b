"""Ready-to-paste sender configuration for an integration (admin and README)."""

from django.conf import settings

from .models import Integration

ALERTMANAGER = """receivers:
  - name: hikeshi
    webhook_configs:
      - url: {base}/api/v1/integrations/alertmanager/
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {secret}
"""
PAGERDUTY = """# Alertmanager, or any PagerDuty Events API v2 client:
receivers:
  - name: hikeshi-pagerduty
    pagerduty_configs:
      - routing_key: {secret}
        url: {base}/v2/enqueue
        send_resolved: true
"""
GRAFANA = """Grafana → Alerting → Contact points → Webhook
  URL:            {base}/api/v1/integrations/grafana/
  Authorization:  Bearer {secret}
  HMAC secret:    the value of the environment variable named on this integration (optional)
"""
GENERIC = """curl -X POST {base}/api/v1/alerts/ -H 'Authorization: Token <your API token>' \\
  -H 'Content-Type: application/json' \\
  -d '{{"title": "バッチ失敗", "severity": "P2", "dedup_key": "nightly-batch"}}'
"""
TEMPLATES = {
    Integration.Kind.ALERTMANAGER: ALERTMANAGER,
    Integration.Kind.PAGERDUTY: PAGERDUTY,
    Integration.Kind.GRAFANA: GRAFANA,
    Integration.Kind.GENERIC: GENERIC,
}


def integration_snippet(integration: Integration, secret: str | None = None) -> str:
    shown = secret or f"<secret starting {integration.secret_hint}…>"
    return TEMPLATES[integration.kind].format(base=settings.SITE_URL, secret=shown)
