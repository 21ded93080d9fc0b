from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from accounts.api import ChatIdentityViewSet
from changes.api import ChangeViewSet
from chat import views as chat_views
from checklists.api import (
    ChecklistRunViewSet,
    ChecklistTemplateViewSet,
    IncidentChecklistsView,
    IncidentKnownProblemsView,
    RunItemViewSet,
)
from escalation.api import EscalationPolicyViewSet, TeamViewSet
from heartbeats import views as heartbeat_views
from heartbeats.api import HeartbeatViewSet
from incidents.api import IncidentViewSet
from integrations import views as integration_views
from integrations.api import GenericAlertView, IntegrationViewSet
from maintenance.api import MaintenanceWindowViewSet
from notices.views import act
from oncall import views as oncall_views
from oncall.api import ScheduleViewSet
from ops import board
from ops.metrics import metrics
from ops.views import health, live
from vendors.api import IncidentVendorTicketCloseView, IncidentVendorTicketsView, VendorViewSet

router = DefaultRouter()
router.register("incidents", IncidentViewSet, basename="incident")
router.register("integrations", IntegrationViewSet, basename="integration")
router.register("escalation-policies", EscalationPolicyViewSet, basename="escalation-policy")
router.register("teams", TeamViewSet, basename="team")
router.register("heartbeats", HeartbeatViewSet, basename="heartbeat")
router.register("changes", ChangeViewSet, basename="change")
router.register("checklists/templates", ChecklistTemplateViewSet, basename="checklist-template")
router.register("checklists/runs", ChecklistRunViewSet, basename="checklist-run")
router.register("checklists/items", RunItemViewSet, basename="checklist-item")
router.register("chat/identities", ChatIdentityViewSet, basename="chat-identity")
router.register("maintenance-windows", MaintenanceWindowViewSet, basename="maintenance-window")
router.register("vendors", VendorViewSet, basename="vendor")
router.register("schedules", ScheduleViewSet, basename="schedule")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/integrations/alertmanager/", integration_views.alertmanager),
    path("api/v1/integrations/grafana/", integration_views.grafana),
    path("api/v1/alerts/", GenericAlertView.as_view(), name="alerts"),
    path("v2/enqueue", integration_views.pagerduty_enqueue, name="pagerduty-enqueue"),
    path(
        "v2/change/enqueue",
        integration_views.pagerduty_change_enqueue,
        name="pagerduty-change-enqueue",
    ),
    path("api/v1/chat/slack/commands", chat_views.slack_commands, name="slack-commands"),
    path("api/v1/chat/slack/interactions", chat_views.slack_interactions),
    path("api/v1/chat/mattermost/commands", chat_views.mattermost_commands),
    path("api/v1/chat/mattermost/actions", chat_views.mattermost_actions),
    path("chat/link/<str:token>", chat_views.link, name="chat-link"),
    path("act/<str:token>", act, name="act"),
    path("oncall/feeds/<str:token>.ics", oncall_views.feed, name="oncall-feed"),
    # Every path under /ping/ is the ping view's: it answers JSON for what it does not know.
    re_path(r"^ping/(?P<path>.*)$", heartbeat_views.ping, name="heartbeat-ping"),
    path("api/v1/incidents/<str:key>/checklists/", IncidentChecklistsView.as_view()),
    path("api/v1/incidents/<str:key>/known-problems/", IncidentKnownProblemsView.as_view()),
    path("api/v1/incidents/<str:key>/vendor-tickets/", IncidentVendorTicketsView.as_view()),
    path(
        "api/v1/incidents/<str:key>/vendor-tickets/<int:ticket>/close/",
        IncidentVendorTicketCloseView.as_view(),
    ),
    path("api/v1/", include(router.urls)),
    path("api/health", health, name="health"),
    path("api/health/live", live, name="health-live"),
    path("metrics", metrics, name="metrics"),
    path("ops/monitoring", board.board, name="ops-monitoring"),
    path("ops/analytics", board.analytics_page, name="ops-analytics"),
    path("ops/monitoring/section", board.board_section, name="ops-monitoring-section"),
    path(
        "ops/monitoring/<str:key>/acknowledge",
        board.board_acknowledge,
        name="ops-monitoring-acknowledge",
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-auth/", include("rest_framework.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]

handler400 = "config.api.json_400"
handler404 = "config.api.json_404"
handler500 = "config.api.json_500"
