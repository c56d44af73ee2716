"""Settings for schoolops, read from the environment only.

``DEBUG`` is off unless ``DJANGO_DEBUG`` turns it on, so a forgotten variable fails closed.
With ``DJANGO_DEBUG=1`` (``make run``, the tests) the defaults run the whole product with no
services: a SQLite file, Celery tasks run eagerly, e-mail to the console. Production sets the
variables listed in ``deploy/production.env.example``; ``manage.py check --deploy`` is then clean.
"""

import datetime
import os
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from schoolops import queues

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SCHOOLOPS_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Off unless asked for: without DJANGO_DEBUG the secrets are required and every protection is on.
DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    key = os.environ.get("DJANGO_SECRET_KEY", "")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    # Development only: a random key kept in var/ (ignored by git) so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "schoolops.apps.SchoolopsConfig",
    "orders.apps.OrdersConfig",
    "students.apps.StudentsConfig",
    "refunds.apps.RefundsConfig",
    "notifications.apps.NotificationsConfig",
    "payments.apps.PaymentsConfig",
    "finance.apps.FinanceConfig",
    "analytics.apps.AnalyticsConfig",
    "servicedesk.apps.ServicedeskConfig",
    "service.apps.ServiceConfig",
    "exchanges.apps.ExchangesConfig",
    "portal.apps.PortalConfig",
    "demo.apps.DemoConfig",
    "gatewaysim.apps.GatewaySimConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "simple_history",
    "django_celery_beat",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response, with a nonce per request (schoolops.csp).
    "schoolops.csp.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # With DEBUG on, a student's wrong link gets the school's 404 page (schoolops.error_pages).
    "schoolops.error_pages.BrandedNotFoundMiddleware",
    # Staff sessions end with the browser and after ADMIN_SESSION_IDLE_SECONDS (schoolops.sessions).
    "schoolops.sessions.StaffSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last: turns a locked-out log-in into the log-in page with a message (schoolops.auth).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "schoolops.urls"
WSGI_APPLICATION = "schoolops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "schoolops.context_processors.school",
                "notifications.context_processors.inbox_unread",
            ],
        },
    },
]


# --- Database: a SQLite file unless DATABASE_URL names another (PostgreSQL in production).
def _database(url_variable: str, pooler_variable: str, default: str | None = None) -> dj_database_url.DBConfig:
    """An alias read from a URL variable; ``<pooler_variable>=transaction`` when it connects
    through a pooler in transaction mode (deploy/production.env.example)."""
    pooled = os.environ.get(pooler_variable, "").strip().lower() == "transaction"
    database = dj_database_url.config(
        env=url_variable,
        default=default,
        # Seconds Django keeps a connection open between requests. Through the pooler this is a
        # client connection to PgBouncer, which costs the database nothing: keep it longer.
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE") or (600 if pooled else 60)),
        conn_health_checks=True,
    )
    if pooled:
        # In transaction mode each transaction may run on another server connection. A
        # server-side cursor (what .iterator() declares on PostgreSQL) outlives the transaction
        # that opened it and would be looked for on the wrong server connection, and so would a
        # prepared statement or a SET: Django fetches client-side instead. (psycopg2 prepares
        # nothing; the time zone Django sets is a parameter PgBouncer carries to every server
        # connection.)
        database["DISABLE_SERVER_SIDE_CURSORS"] = True
    return database


DATABASES = {"default": _database("DATABASE_URL", "DATABASE_POOLER", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    # The analytics facts' uniqueness over keys that may be NULL (nulls_distinct=False) is a
    # PostgreSQL constraint; SQLite (the embedded default) cannot declare it. Facts are written only
    # by analytics.services.facts_refresh, which replaces whole slices, so they stay unique anyway.
    SILENCED_SYSTEM_CHECKS = ["models.W047"]
# A streaming replica of the primary, read only by the report paths inside
# schoolops.db_router.replica_reads(); everything else stays on "default" (see that module).
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = _database("DATABASE_REPLICA_URL", "DATABASE_REPLICA_POOLER")
DATABASE_ROUTERS = ["schoolops.db_router.PrimaryReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Users
AUTH_USER_MODEL = "schoolops.User"
# axes first: it refuses a locked-out attempt before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "schoolops.auth.UsernameOrPhoneBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Log-in throttling (django-axes, tuned in schoolops/auth.py). Failures are counted per account
# (a phone number counts for its account) and per address, independently, over the cool-off.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_ACCOUNT_FAILURE_LIMIT", "5"))
# Higher: a campus network or a mobile carrier puts many students behind one address.
LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("LOGIN_ADDRESS_FAILURE_LIMIT", "30"))
AXES_COOLOFF_TIME = datetime.timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
# A lockout ends a cool-off after the last counted failure; attempts while locked do not extend it,
# so students behind a locked address are not kept out by each other's retries.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_HANDLER = "schoolops.auth.LoginAttemptHandler"
AXES_USERNAME_CALLABLE = "schoolops.auth.login_username"
AXES_CLIENT_IP_CALLABLE = "schoolops.auth.login_client_ip"
AXES_LOCKOUT_CALLABLE = "schoolops.auth.lockout_response"
# Reverse proxies in front that append the client's address to X-Forwarded-For (production: the
# TLS proxy). 0 = use REMOTE_ADDR. Wrong here, every visitor shares the proxy's address.
LOGIN_TRUSTED_PROXY_COUNT = int(os.environ.get("DJANGO_TRUSTED_PROXY_COUNT", "0" if DEBUG else "1"))

# --- Language and time: Simplified Chinese by default, English available; Asia/Shanghai.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

# --- Static and uploaded files
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Uploaded files (evidence, scans) are private: kept outside the static root, never served
# directly, only through views that check the viewer.
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"

# --- Redis, Celery and the cache. Without REDIS_URL tasks run eagerly in-process.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# Refund events' analytics refreshes are gathered per (day, campus) for this long before one runs.
ANALYTICS_REFRESH_DELAY_SECONDS = int(os.environ.get("ANALYTICS_REFRESH_DELAY_SECONDS", "10"))
# Separate queues (schoolops.queues): payouts never wait behind receipts, exports or notifications.
# CELERY_QUEUE_PREFIX puts the whole set under one name (tests and benchmarks).
CELERY_QUEUE_PREFIX = os.environ.get("CELERY_QUEUE_PREFIX", "")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get(
    "CELERY_TASK_DEFAULT_QUEUE", queues.queue_name(queues.DEFAULT, prefix=CELERY_QUEUE_PREFIX)
)
CELERY_TASK_ROUTES = queues.task_routes(prefix=CELERY_QUEUE_PREFIX)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker keeps its database connections between tasks (schoolops/celery.py checks them before
# each, as Django does before each request); Celery's fixup still replaces them after this many tasks.
CELERY_DB_REUSE_MAX = int(os.environ.get("CELERY_DB_REUSE_MAX", "1000"))
# Above the longest retry backoff plus run time, so a late-acked task is not delivered twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 4 * 3600))}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "purge-ingestion-nonces": {
        "task": "students.tasks.purge_ingestion_nonces",
        "schedule": 600.0,
    },
    "escalate-overdue-approval-steps": {
        "task": "refunds.tasks.escalate_overdue_steps",
        "schedule": 300.0,
    },
    "settle-course-exchanges": {
        "task": "exchanges.tasks.settle_exchanges",
        "schedule": 300.0,
    },
    "expire-requests-waiting-for-information": {
        "task": "refunds.tasks.expire_waiting_requests",
        "schedule": 3600.0,
    },
    "check-stuck-payouts": {
        "task": "payments.tasks.check_payouts",
        "schedule": 120.0,
    },
    "send-pending-notifications": {
        "task": "notifications.tasks.send_pending_notifications",
        "schedule": 60.0,
    },
    "purge-refused-callbacks": {
        "task": "payments.tasks.purge_refused_callbacks",
        "schedule": 24 * 3600.0,
    },
    # Payments asked of students (payments.collections): expired ones closed, duplicate refunds settled.
    "expire-collections": {
        "task": "payments.tasks.expire_collections",
        "schedule": 60.0,
    },
    "check-collection-refunds": {
        "task": "payments.tasks.check_collection_refunds",
        "schedule": 300.0,
    },
    # Orders' revenue has no event: yesterday's and today's facts are recomputed every 10 minutes.
    "refresh-recent-analytics-facts": {
        "task": "analytics.tasks.refresh_recent_facts",
        "schedule": 600.0,
    },
    # The alert rules over yesterday (and any missed day), at night; spikes also hourly, on today so far.
    "run-alert-rules": {
        "task": "analytics.tasks.run_alert_rules",
        "schedule": crontab(hour=1, minute=30),
    },
    "look-for-spikes-today": {
        "task": "analytics.tasks.look_for_spikes_today",
        "schedule": crontab(minute=5),
    },
    # The weekly review: every Monday at 08:00 (CELERY_TIMEZONE, Asia/Shanghai), last week's.
    "send-weekly-reviews": {
        "task": "analytics.tasks.send_weekly_reviews",
        "schedule": crontab(minute=0, hour=8, day_of_week="mon"),
    },
    # Tickets about to breach or breached their reply or resolution clock, once per level.
    "escalate-tickets": {
        "task": "servicedesk.tasks.escalate_tickets",
        "schedule": 300.0,
    },
    # The homeroom teachers' service tasks: made when due, reminders, questions, escalation.
    "plan-service-tasks": {
        "task": "service.tasks.plan_service_tasks",
        "schedule": 300.0,
    },
}

# --- Payouts. Retries back off exponentially from the base to the cap; the cap stays far below
# the broker's visibility timeout above. A worker holds a payout for the lease; the periodic
# check picks up a payout left sent or unknown once its lease ran out and it sat that long.
PAYOUT_RETRY_BASE_SECONDS = float(os.environ.get("PAYOUT_RETRY_BASE_SECONDS", "30"))
PAYOUT_RETRY_MAX_SECONDS = float(os.environ.get("PAYOUT_RETRY_MAX_SECONDS", "1800"))
PAYOUT_MAX_RETRIES = int(os.environ.get("PAYOUT_MAX_RETRIES", "8"))
PAYOUT_LEASE_SECONDS = int(os.environ.get("PAYOUT_LEASE_SECONDS", "120"))
PAYOUT_CHECK_AFTER_SECONDS = int(os.environ.get("PAYOUT_CHECK_AFTER_SECONDS", "300"))
# Refused gateway callbacks (payments.callbacks_refused): the callback endpoints are open to the
# internet, so what is kept of refusals is bounded - the body's first characters, so many rows an
# hour per address and in all (beyond that only logged), deleted after so many days.
PAYMENTS_REFUSED_CALLBACK_BODY_CHARS = int(os.environ.get("PAYMENTS_REFUSED_CALLBACK_BODY_CHARS", "2048"))
PAYMENTS_REFUSED_CALLBACKS_PER_ADDRESS_PER_HOUR = int(
    os.environ.get("PAYMENTS_REFUSED_CALLBACKS_PER_ADDRESS_PER_HOUR", "20")
)
PAYMENTS_REFUSED_CALLBACKS_PER_HOUR = int(os.environ.get("PAYMENTS_REFUSED_CALLBACKS_PER_HOUR", "500"))
PAYMENTS_REFUSED_CALLBACK_KEEP_DAYS = int(os.environ.get("PAYMENTS_REFUSED_CALLBACK_KEEP_DAYS", "90"))
# After this many calls to the gateway with the outcome still unknown, finance is asked to check the
# payout at the gateway (it is still queried, never sent again under a new number).
PAYOUT_MANUAL_CHECK_AFTER_ATTEMPTS = int(os.environ.get("PAYOUT_MANUAL_CHECK_AFTER_ATTEMPTS", "6"))
# A duplicate payment's refund still in progress this long is asked about by the periodic check.
COLLECTION_REFUND_CHECK_AFTER_SECONDS = int(os.environ.get("COLLECTION_REFUND_CHECK_AFTER_SECONDS", "300"))

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- E-mail: console by default, SMTP when EMAIL_HOST is set.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "schoolops <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- The school
SCHOOL_NAME = os.environ.get("SCHOOLOPS_SCHOOL_NAME", "明德网校")
# Messages link back to the site: its public address (scheme and host). Empty: relative links.
NOTIFICATIONS_SITE_URL = os.environ.get("NOTIFICATIONS_SITE_URL", "http://127.0.0.1:8000" if DEBUG else "")
# The service desk's contact line: on the student's pages (header, help center) and at the end of
# every message. NOTIFICATIONS_CONTACT, when set, replaces the whole sentence in messages.
SERVICE_HOTLINE = os.environ.get("SCHOOLOPS_SERVICE_HOTLINE", "400-800-1234")
SERVICE_HOURS = os.environ.get("SCHOOLOPS_SERVICE_HOURS", "09:00–21:00")
NOTIFICATIONS_CONTACT = os.environ.get("NOTIFICATIONS_CONTACT", "")

# --- Finance
# Exports of more rows than this are prepared by a worker and offered for download when ready;
# smaller ones stream straight to the browser.
FINANCE_EXPORT_STREAM_MAX_ROWS = int(os.environ.get("FINANCE_EXPORT_STREAM_MAX_ROWS", "50000"))
# Gateway statements larger than this are refused on upload.
FINANCE_STATEMENT_MAX_BYTES = int(os.environ.get("FINANCE_STATEMENT_MAX_BYTES", str(20 * 1024 * 1024)))

# --- Learning platform ingestion: HMAC-SHA256 over "<timestamp>.<body>" with a shared secret.
LEARNING_PLATFORM_SECRET = os.environ.get("LEARNING_PLATFORM_SECRET", "")
if not LEARNING_PLATFORM_SECRET:
    if not DEBUG:
        raise ImproperlyConfigured("LEARNING_PLATFORM_SECRET must be set when DJANGO_DEBUG is off.")
    LEARNING_PLATFORM_SECRET = "development-only-learning-platform-secret"  # noqa: S105
LEARNING_PLATFORM_MAX_SKEW_SECONDS = 300
LEARNING_PLATFORM_MAX_BODY_BYTES = 1024 * 1024

# --- Order intake from the school's order system: the same signature, its own secret.
ORDER_SYSTEM_SECRET = os.environ.get("SCHOOLOPS_ORDER_SYSTEM_SECRET", "")
if not ORDER_SYSTEM_SECRET:
    if not DEBUG:
        raise ImproperlyConfigured("SCHOOLOPS_ORDER_SYSTEM_SECRET must be set when DJANGO_DEBUG is off.")
    ORDER_SYSTEM_SECRET = "development-only-order-system-secret"  # noqa: S105
ORDER_SYSTEM_MAX_SKEW_SECONDS = 300
ORDER_SYSTEM_MAX_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Refund gateways (BEGIN gateway settings block) -------------------------------------------
# WeChat Pay API v2 and Alipay, read by payments.gateways.config when a call is made. With DEBUG on
# and nothing in the environment they point at the local simulator (`manage.py run_gateway_sim`,
# keys in var/gateway-sim/, port 8765). With DEBUG off a missing value does not stop startup;
# the first gateway call fails with a configuration error naming it.
GATEWAY_SIM_DIR = VAR_DIR / "gateway-sim"
# Where `make run` starts the simulator (its SIM_PORT moves it).
_GATEWAY_SIM_URL = os.environ.get("GATEWAY_SIM_URL", "https://127.0.0.1:8765/")


def _gateway_env(name: str, *, production: str = "", development: str = "") -> str:
    return os.environ.get(name, "") or (development if DEBUG else production)


def _gateway_sim_file(name: str) -> str:
    return str(GATEWAY_SIM_DIR / name)


def _gateway_sim_api_key() -> str:
    """The simulator's WeChat API key, once `run_gateway_sim` has generated it (development only)."""
    path = GATEWAY_SIM_DIR / "wechat_api_key.txt"
    return path.read_text().strip() if DEBUG and path.exists() else ""


WECHAT_PAY = {
    "APPID": _gateway_env("WECHAT_PAY_APPID", development="wx6c0e3d5f8a1b2c47"),
    "MCH_ID": _gateway_env("WECHAT_PAY_MCH_ID", development="1900012345"),
    "API_KEY": os.environ.get("WECHAT_PAY_API_KEY", "") or _gateway_sim_api_key(),
    "CERT_PATH": _gateway_env("WECHAT_PAY_CERT_PATH", development=_gateway_sim_file("wechat-apiclient_cert.pem")),
    "KEY_PATH": _gateway_env("WECHAT_PAY_KEY_PATH", development=_gateway_sim_file("wechat-apiclient_key.pem")),
    "API_BASE": _gateway_env(
        "WECHAT_PAY_API_BASE", production="https://api.mch.weixin.qq.com/", development=_GATEWAY_SIM_URL
    ),
    # A CA bundle file to trust instead of the system's ("" = the system's).
    "CA_BUNDLE": _gateway_env("WECHAT_PAY_CA_BUNDLE", development=_gateway_sim_file("ca.pem")),
}
ALIPAY = {
    "APPID": _gateway_env("ALIPAY_APPID", development="2021000100000001"),
    "APP_PRIVATE_KEY_PATH": _gateway_env(
        "ALIPAY_APP_PRIVATE_KEY_PATH", development=_gateway_sim_file("alipay-app-private.pem")
    ),
    # Alipay's platform public key, which signs its answers and notifications.
    "PUBLIC_KEY_PATH": _gateway_env(
        "ALIPAY_PUBLIC_KEY_PATH", development=_gateway_sim_file("alipay-platform-public.pem")
    ),
    "GATEWAY": _gateway_env(
        "ALIPAY_GATEWAY",
        production="https://openapi.alipay.com/gateway.do",
        development=_GATEWAY_SIM_URL + "gateway.do",
    ),
    "CA_BUNDLE": _gateway_env("ALIPAY_CA_BUNDLE", development=_gateway_sim_file("ca.pem")),
}
# Where the gateways reach our callbacks: scheme and host, no path.
PAYMENTS_NOTIFY_BASE_URL = _gateway_env("PAYMENTS_NOTIFY_BASE_URL", development="http://127.0.0.1:8000")
# --- (END gateway settings block) ------------------------------------------------------------------


# --- Notification channels (BEGIN notification channels settings block) ------------------------
# SMS (Aliyun-style SendSms), WeChat official-account / mini-program messages and staff robots,
# read by notifications.channels when a message is sent. With DEBUG on and nothing in the
# environment they point at the local gateway simulator (same keys directory and port as above;
# its secrets in notify-keys.json). With DEBUG off a missing value does not stop startup: a send
# fails with a temporary configuration error naming it, and goes out once it is set.
def _notify_sim_secret(name: str) -> str:
    """One of the simulator's notification secrets, once `run_gateway_sim` made them (development)."""
    import json

    path = GATEWAY_SIM_DIR / "notify-keys.json"
    return str(json.loads(path.read_text()).get(name, "")) if DEBUG and path.exists() else ""


SMS = {
    "URL": _gateway_env("SMS_URL", production="https://dysmsapi.aliyuncs.com/", development=_GATEWAY_SIM_URL + "sms/"),
    "ACCESS_KEY_ID": _gateway_env("SMS_ACCESS_KEY_ID", development="LTAI5tSimulator0000000001"),
    "ACCESS_KEY_SECRET": os.environ.get("SMS_ACCESS_KEY_SECRET", "") or _notify_sim_secret("sms_access_key_secret"),
    "SIGN_NAME": _gateway_env("SMS_SIGN_NAME", development="明德网校"),
    "CA_BUNDLE": _gateway_env("SMS_CA_BUNDLE", development=_gateway_sim_file("ca.pem")),
    "TIMEOUT": float(os.environ.get("SMS_TIMEOUT") or 10),
}
WECHAT_MP = {
    "APPID": _gateway_env("WECHAT_MP_APPID", development="wx6c0e3d5f8a1b2c47"),
    "SECRET": os.environ.get("WECHAT_MP_SECRET", "") or _notify_sim_secret("wechat_mp_secret"),
    "API_BASE": _gateway_env(
        "WECHAT_MP_API_BASE", production="https://api.weixin.qq.com/", development=_GATEWAY_SIM_URL
    ),
    "TOKEN_URL": _gateway_env(
        "WECHAT_MP_TOKEN_URL",
        production="https://api.weixin.qq.com/cgi-bin/token",
        development=_GATEWAY_SIM_URL + "cgi-bin/token",
    ),
    "CA_BUNDLE": _gateway_env("WECHAT_MP_CA_BUNDLE", development=_gateway_sim_file("ca.pem")),
    # "official_account" (template messages) or "mini_program" (subscribe messages, opening MINI_PAGE).
    "MODE": os.environ.get("WECHAT_MP_MODE", "") or "official_account",
    "MINI_PAGE": os.environ.get("WECHAT_MP_MINI_PAGE", ""),
    "TIMEOUT": float(os.environ.get("WECHAT_MP_TIMEOUT") or 10),
}
# Staff robots' addresses come with each recipient; this only says whom to trust and how long to wait.
NOTIFY_WEBHOOKS = {
    "CA_BUNDLE": _gateway_env("NOTIFY_WEBHOOKS_CA_BUNDLE", development=_gateway_sim_file("ca.pem")),
    "TIMEOUT": float(os.environ.get("NOTIFY_WEBHOOKS_TIMEOUT") or 10),
}
# --- (END notification channels settings block) ---------------------------------------------------

# --- Security. Production (DEBUG off) turns every protection on.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts and styles only from our own static files or
# elements carrying the request's nonce ({{ request.csp_nonce }}); no inline style attributes, no
# plugins. frame-ancestors follows X-Frame-Options: 'none', or 'self' for the responses that allow
# a same-site frame (the admin previews evidence PDFs in one) - see schoolops.csp.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # Images, fonts, frames and fetches fall back to default-src: nothing here needs data: URLs.
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# Staff (admin) sessions: a browser-session cookie, ended after this long without a request and,
# whatever the activity, this long after logging in. Students keep Django's 14-day cookie.
ADMIN_SESSION_IDLE_SECONDS = int(os.environ.get("ADMIN_SESSION_IDLE_SECONDS", str(2 * 3600)))
ADMIN_SESSION_MAX_AGE_SECONDS = int(os.environ.get("ADMIN_SESSION_MAX_AGE_SECONDS", str(12 * 3600)))
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Receipt rendering: WeasyPrint and fontTools log every step at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
