"""Hikeshi settings: one module, everything from the environment (see README, "Configuration")."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("HIKESHI_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost", "[::1]"]),
)

# Off unless set: a first `make run` behaves like production and never shows a traceback.
DEBUG = env("DEBUG")


def _secret_key() -> str:
    """From the environment; a single machine without one keeps its own under var/.

    Several machines must share one key (sessions, signed links): `check --deploy` warns
    while the key comes from var/ (ops.checks)."""
    if key := env.str("SECRET_KEY", default=""):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
SECRET_KEY_FROM_ENVIRONMENT = bool(env.str("SECRET_KEY", default=""))
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# --- behind a TLS proxy (README, "Production") --------------------------------
# Trust the proxy's X-Forwarded-Proto only when one is in front and sets it.
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Preloading is a promise for a whole public domain, made to browser vendors; an incident
# tool's internal name is rarely one to make it for, so check --deploy does not ask for it.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Load balancers and Prometheus on the machine itself ask over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^api/health", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
# A session ends after this long without a request (requests renew it, at most once a minute:
# config.middleware.SessionRenewalMiddleware).
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=8 * 3600)

INSTALLED_APPS = [
    "ops.apps.HikeshiAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # whitenoise serves static files under `runserver` too: development looks like production.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "auditlog",
    "axes",
    "django_celery_beat",
    "django_fsm",
    "accounts",
    "incidents",
    "pulses",
    "notices",
    "escalation",
    "checklists",
    "maintenance",
    "oncall",
    "changes",
    "vendors",
    "alerts",
    "integrations",
    "heartbeats",
    "chat",
    "ops",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.SessionRenewalMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    # Late in the list, so that it sees a view's database error first.
    "config.middleware.DatabaseUnavailableMiddleware",
    # Last but one: it answers a locked-out login before the view sees it.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# --- login lockout (django-axes) ----------------------------------------------
# The admin login refuses a user at an address after this many failures in a row...
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# ...until a manager deletes the attempt in the admin, or this many minutes pass (0: never).
_lockout_minutes = env.int("LOGIN_LOCKOUT_MINUTES", default=30)
AXES_COOLOFF_TIME = timedelta(minutes=_lockout_minutes) if _lockout_minutes else None
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "accounts.lockout.locked_out"
# The client's address: REMOTE_ADDR, or behind a proxy the header that the proxy sets to it
# (X-Real-IP in deploy/nginx/: set by nginx, never taken from the client).
AXES_IPWARE_META_PRECEDENCE_ORDER = [env.str("CLIENT_IP_HEADER", default="REMOTE_ADDR")]

ROOT_URLCONF = "config.urls"
# Pages outside the admin (an e-mail's acknowledge link, chat's account link) log in there.
LOGIN_URL = "admin:login"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'hikeshi.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers queue on SQLite's lock instead of failing; IMMEDIATE takes it at BEGIN.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No parallel workers for one query unless asked: a page or a search stops after its
    # first rows, and starting workers for it took three times the walk itself on 2 cores.
    workers = env.int("DB_PARALLEL_WORKERS", default=0)
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "options", f"-c max_parallel_workers_per_gather={workers}"
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Reuse connections across requests (checked before reuse); 0 closes after each request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://hikeshi")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Tokyo")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Served by whitenoise in every deployment, DEBUG or not: `make setup` collects them here
# (compressed, names hashed for long caching); while DEBUG, whitenoise also finds them in place.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "config.storage.StaticFiles"
        if env.bool("STATIC_MANIFEST", default=not DEBUG)
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}

# --- e-mail -----------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="hikeshi@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["config.api.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="600/min"),
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
    },
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DATETIME_FORMAT": "iso-8601",
}
# A list's `count` stops here (`count_capped`), and search answers this many matches at most:
# counting every match of a broad word over a long history costs more than the page itself.
API_COUNT_LIMIT = env.int("API_COUNT_LIMIT", default=1000)
REST_KNOX = {
    # Bot tokens live until revoked in the admin; people can revoke their own.
    "TOKEN_TTL": None,
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hikeshi API",
    "DESCRIPTION": "Incident management: the production runbook, executable.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "SeverityEnum": "incidents.models.Severity",
        "StateEnum": "incidents.models.State",
        "CategoryEnum": "incidents.models.Category",
        "IntegrationKindEnum": "integrations.models.Integration.Kind",
        "TimelineEventKindEnum": "incidents.models.TimelineEvent.Kind",
        "HeldAlertStatusEnum": "maintenance.models.HeldAlert.Status",
        "ChangeKindEnum": "changes.models.Kind",
        "ChangeResultEnum": "changes.models.Result",
        "ChangeOriginEnum": "changes.models.Origin",
        "ChecklistKindEnum": "checklists.models.Kind",
    },
}

# --- postmortems -------------------------------------------------------------
POSTMORTEM_DIR = Path(env.str("POSTMORTEM_DIR", default=str(BASE_DIR / "docs" / "incidents")))
POSTMORTEM_LANGUAGE = env.str("POSTMORTEM_LANGUAGE", default="ja")
# 変更管理: where finished changes' records are written (in POSTMORTEM_LANGUAGE).
CHANGE_DIR = Path(env.str("CHANGE_DIR", default=str(BASE_DIR / "docs" / "changes")))
# How long a release's maintenance window lasts unless its record says (`window_minutes`).
CHANGE_WINDOW_MINUTES = env.int("CHANGE_WINDOW_MINUTES", default=60)
OPS_REPORT_DIR = Path(env.str("OPS_REPORT_DIR", default=str(BASE_DIR / "docs" / "reports")))

# --- escalation -------------------------------------------------------------
# How often Celery beat runs the sweeper: the worst-case lateness of an escalation.
ESCALATION_SWEEP_SECONDS = env.float("ESCALATION_SWEEP_SECONDS", default=5.0)
# Incidents claimed per sweeper transaction.
ESCALATION_SWEEP_BATCH = env.int("ESCALATION_SWEEP_BATCH", default=500)
# Longest countdown given to an ETA task; later deadlines are left to the sweeper alone.
# Kept well under the broker's visibility timeout, beyond which Redis delivers ETA tasks twice.
ESCALATION_ETA_MAX_SECONDS = env.int("ESCALATION_ETA_MAX_SECONDS", default=1800)
# Team addresses used when the runbook loader creates the teams (緊急連絡先).
TEAM_OPERATIONS_EMAIL = env.str("TEAM_OPERATIONS_EMAIL", default="")
TEAM_DEVELOPMENT_EMAIL = env.str("TEAM_DEVELOPMENT_EMAIL", default="dev-team@luxucare.co.jp")
TEAM_SYSADMIN_EMAIL = env.str("TEAM_SYSADMIN_EMAIL", default="admin@luxucare.co.jp")
TEAM_EXECUTIVES_EMAIL = env.str("TEAM_EXECUTIVES_EMAIL", default="")
# 緊急時: 24時間対応, printed in level 3/4 notices.
EMERGENCY_PHONE = env.str("EMERGENCY_PHONE", default="090-XXXX-XXXX")
# Outbox: a rejected notice is tried this many times, then marked failed.
NOTICE_MAX_ATTEMPTS = env.int("NOTICE_MAX_ATTEMPTS", default=5)
# Exponential backoff between attempts: base * 2^(attempt-1), capped.
NOTICE_RETRY_BASE_SECONDS = env.float("NOTICE_RETRY_BASE_SECONDS", default=30.0)
NOTICE_RETRY_MAX_SECONDS = env.float("NOTICE_RETRY_MAX_SECONDS", default=600.0)
# How often beat looks for pending notices (those whose task was lost, or due for a retry).
NOTICE_SWEEP_SECONDS = env.float("NOTICE_SWEEP_SECONDS", default=15.0)
# A notice left "sending" this long (worker died mid-send) is sent again, same Message-ID.
NOTICE_SENDING_TIMEOUT_SECONDS = env.int("NOTICE_SENDING_TIMEOUT_SECONDS", default=600)
# Teams that receive the daily report (09:00 JST) even on a day without P3 notices.
DAILY_REPORT_TEAMS = env.list("DAILY_REPORT_TEAMS", default=["operations"])
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Open connections to the mail server per worker process, reused across batches; a burst is
# sent over this many at once (one claimed batch on each).
NOTICE_SMTP_CONNECTIONS = env.int("NOTICE_SMTP_CONNECTIONS", default=4)

# --- health -----------------------------------------------------------------
# How often the workers, the sweeper and the alert lanes write their pulse; a pulse older
# than three of these is a process that stopped.
PULSE_SECONDS = env.float("PULSE_SECONDS", default=5.0)
# A due notice still waiting after this long makes the outbox "degraded".
NOTICE_STUCK_SECONDS = env.int("NOTICE_STUCK_SECONDS", default=300)
# When set, /metrics wants `Authorization: Bearer <token>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# The Prometheus whose 監視対象 the board shows (empty: no such panel).
PROMETHEUS_URL = env.str("PROMETHEUS_URL", default="")

# --- chat -------------------------------------------------------------------
# Slack app signing secrets, comma-separated: more than one while a secret is rotated.
SLACK_SIGNING_SECRETS = env.list("SLACK_SIGNING_SECRETS", default=[])
# Mattermost slash command tokens, comma-separated.
MATTERMOST_TOKENS = env.list("MATTERMOST_TOKENS", default=[])
# The only hosts Hikeshi posts to (team webhooks, Slack response URLs); `.example.com` is every
# host under example.com. Slack's hooks and the Teams Workflows hosts by default.
CHAT_ALLOWED_HOSTS = env.list(
    "CHAT_ALLOWED_HOSTS",
    default=["hooks.slack.com", ".logic.azure.com", ".api.powerplatform.com"],
)
CHAT_TIMEOUT_SECONDS = env.float("CHAT_TIMEOUT_SECONDS", default=5.0)
# How long the buttons of a channel notice work (Mattermost's signed context).
CHAT_BUTTON_MAX_AGE_SECONDS = env.int("CHAT_BUTTON_MAX_AGE_SECONDS", default=7 * 24 * 3600)
# The one-time link `/incident link` answers with.
CHAT_LINK_MAX_AGE_SECONDS = env.int("CHAT_LINK_MAX_AGE_SECONDS", default=15 * 60)
# The acknowledge link in an escalation e-mail.
ACT_LINK_MAX_AGE_SECONDS = env.int("ACT_LINK_MAX_AGE_SECONDS", default=24 * 3600)

# --- checklists -------------------------------------------------------------
# Overdue maintenance runs are mailed here; empty: the operations role's members.
OPERATIONS_EMAIL = env.list("OPERATIONS_EMAIL", default=[])

# --- integrations -----------------------------------------------------------
# Per integration, counted in CACHE_URL's cache (set it to Redis to share the count).
INTEGRATION_RATE_LIMIT = env.str("INTEGRATION_RATE_LIMIT", default="300/s")
# How long a process trusts a webhook secret it has looked up; disabling or replacing a
# secret reaches every process within this time (at once in the process that made it).
INTEGRATION_AUTH_CACHE_SECONDS = env.float("INTEGRATION_AUTH_CACHE_SECONDS", default=5.0)
# Failures after which an accepted alert delivery is set aside instead of retried.
ALERT_DELIVERY_ATTEMPTS = env.int("ALERT_DELIVERY_ATTEMPTS", default=5)
# Processes `manage.py process_alerts` applies deliveries with, one lane each (by alert key).
ALERT_PROCESSOR_LANES = env.int("ALERT_PROCESSOR_LANES", default=2)
# Their CPU priority (nice): when the machine is saturated, accepting alerts comes first.
ALERT_PROCESSOR_NICE = env.int("ALERT_PROCESSOR_NICE", default=10)
# The beat applies deliveries that waited this long (no processor running) every interval.
ALERT_SWEEP_AFTER_SECONDS = env.int("ALERT_SWEEP_AFTER_SECONDS", default=30)
ALERT_SWEEP_SECONDS = env.int("ALERT_SWEEP_SECONDS", default=10)
RATELIMIT_USE_CACHE = "default"

# --- maintenance windows ----------------------------------------------------
# The longest a window may last: one that never ends would hide alerts for good.
MAINTENANCE_WINDOW_MAX_DAYS = env.float("MAINTENANCE_WINDOW_MAX_DAYS", default=7.0)
# How often beat releases the alerts of ended windows: the most an incident opens late.
MAINTENANCE_SWEEP_SECONDS = env.float("MAINTENANCE_SWEEP_SECONDS", default=10.0)

# --- on call ----------------------------------------------------------------
# How often beat writes the hand-off notices due (30 minutes before a shift starts).
ONCALL_HANDOFF_SWEEP_SECONDS = env.float("ONCALL_HANDOFF_SWEEP_SECONDS", default=60.0)

# --- heartbeats -------------------------------------------------------------
# How often beat looks for heartbeats silent past their deadline: a miss's worst lateness.
HEARTBEAT_SWEEP_SECONDS = env.float("HEARTBEAT_SWEEP_SECONDS", default=30.0)
# Heartbeats claimed per sweeper transaction.
HEARTBEAT_SWEEP_BATCH = env.int("HEARTBEAT_SWEEP_BATCH", default=200)
# Pings per heartbeat, counted in CACHE_URL's cache as the integrations' rate is.
HEARTBEAT_PING_RATE_LIMIT = env.str("HEARTBEAT_PING_RATE_LIMIT", default="30/m")
# A ping's body is kept as the last log up to this many bytes; the rest is cut off.
HEARTBEAT_LOG_BYTES = env.int("HEARTBEAT_LOG_BYTES", default=10 * 1024)

# --- audit ------------------------------------------------------------------
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False
# Every audited model, in one place: managers' and responders' changes, with who and what.
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    {"model": "auth.user", "exclude_fields": ["password", "last_login"]},
    {"model": "auth.group", "m2m_fields": {"permissions"}},
    "auth.user_groups",
    "accounts.profile",
    "accounts.chatidentity",
    # The postmortem is the reverse side of its own audited one-to-one: reading it for every
    # diff cost a query per change and recorded nothing. The plan is frozen, never changed.
    {
        "model": "incidents.incident",
        "exclude_fields": ["postmortem", "policy_snapshot", "search_text"],
    },
    "incidents.postmortem",
    "incidents.actionitem",
    {
        "model": "escalation.team",
        "m2m_fields": {"members"},
        "mask_fields": ["chat_webhook_url"],
        "mask_callable": "config.base.audit_mask",
    },
    "escalation.escalationpolicy",
    {"model": "escalation.escalationlevel", "m2m_fields": {"teams", "users", "schedules"}},
    "oncall.schedule",
    "oncall.layer",
    "oncall.layermember",
    "oncall.override",
    {"model": "oncall.feedtoken", "exclude_fields": ["digest"]},
    "checklists.checklisttemplate",
    "checklists.templateitem",
    "checklists.knownproblem",
    "vendors.vendor",
    "vendors.vendorticket",
    {"model": "integrations.integration", "exclude_fields": ["secret_hash"]},
    "maintenance.maintenancewindow",
    # Managers' settings; what pings and the sweeper write is the heartbeat's state, not a change.
    {
        "model": "heartbeats.heartbeat",
        "exclude_fields": [
            "status",
            "deadline",
            "started_at",
            "last_ping_at",
            "last_ping_kind",
            "last_log",
            "last_log_truncated",
            "pings",
            "incident",
        ],
    },
    {"model": "changes.change", "m2m_fields": {"caused_incidents", "fixed_incidents"}},
    # A lockout, and the manager who lifted it by deleting the attempt.
    {"model": "axes.accessattempt", "exclude_fields": ["get_data", "post_data", "http_accept"]},
)

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redis hands an unacknowledged task to another worker after this long;
        # no ETA we schedule is ever longer (ESCALATION_ETA_MAX_SECONDS), so none is redelivered.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    }
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, so a worker killed mid-task leaves it queued...
CELERY_TASK_ACKS_LATE = True
# ...and a worker process lost to a signal or OOM puts it back instead of dropping it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One task reserved per process: a dying worker strands as little as possible.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request must not hang on a dead broker: publish fails fast, the sweeper is the truth.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Timers get their own queue (and, in the Procfile, their own worker): a burst of mail to
# deliver must never hold an escalation back.
CELERY_TASK_ROUTES = {
    "escalation.escalate_due": {"queue": "timers"},
    "escalation.fire_due": {"queue": "timers"},
    "heartbeats.sweep": {"queue": "timers"},
    # Channel posts wait on other people's servers (timeouts, 429s): never in e-mail's way.
    "notices.send_chat": {"queue": "chat"},
    "notices.deliver_chat": {"queue": "chat"},
    "chat.respond": {"queue": "chat"},
}
# Static entries; the DatabaseScheduler copies them into its tables at start.
CELERY_BEAT_SCHEDULE = {
    "escalation: sweep due escalations": {
        "task": "escalation.escalate_due",
        "schedule": ESCALATION_SWEEP_SECONDS,
    },
    "notices: deliver pending notices": {
        "task": "notices.deliver",
        "schedule": NOTICE_SWEEP_SECONDS,
    },
    "notices: post pending channel notices": {
        "task": "notices.deliver_chat",
        "schedule": NOTICE_SWEEP_SECONDS,
    },
    "integrations: apply alerts the processor left waiting": {
        "task": "integrations.deliveries_sweep",
        "schedule": ALERT_SWEEP_SECONDS,
    },
    "alerts: release the alerts of ended maintenance windows": {
        "task": "alerts.release_held",
        "schedule": MAINTENANCE_SWEEP_SECONDS,
    },
    "heartbeats: open incidents for silent heartbeats": {
        "task": "heartbeats.sweep",
        "schedule": HEARTBEAT_SWEEP_SECONDS,
    },
    "oncall: hand-off notices": {
        "task": "oncall.handoffs",
        "schedule": ONCALL_HANDOFF_SWEEP_SECONDS,
    },
    "escalation: hourly digest": {
        "task": "escalation.digests_hourly",
        "schedule": crontab(minute=0),
    },
    "escalation: daily report": {
        "task": "escalation.report_daily",
        "schedule": crontab(minute=0, hour=9),  # CELERY_TIMEZONE: 09:00 JST by default
    },
}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# Under `make run` every process writes to one terminal: each line says whose it is.
_PROGRAM = os.environ.get("SUPERVISOR_PROCESS_NAME", "")
_PROGRAM = f"{_PROGRAM} | " if _PROGRAM else ""
_LINE = _PROGRAM + "%(asctime)s %(levelname)s %(name)s %(message)s"
_CELERY_PREFIX = _PROGRAM + "[%(asctime)s: %(levelname)s/%(processName)s]"
CELERY_WORKER_LOG_FORMAT = _CELERY_PREFIX + " %(message)s"
CELERY_WORKER_TASK_LOG_FORMAT = _CELERY_PREFIX + " %(task_name)s[%(task_id)s]: %(message)s"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": _LINE}},
    "filters": {"redact_links": {"()": "config.redact.RedactLinks"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_links"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
