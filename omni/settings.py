"""Omni settings: one module, every deployment difference comes from environment variables.

Defaults give the zero-setup demo (the embedded PostgreSQL that `make demo` runs, in-process
Celery tasks, console e-mail).
Production sets at least ``SECRET_KEY``, ``DEBUG=False``, ``ALLOWED_HOSTS``, ``DATABASE_URL``
(PostgreSQL) and ``CELERY_BROKER_URL``. See README.md.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env(
    "SECRET_KEY",
    default="django-insecure-omni-demo-key-change-me-in-production-0123456789",
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "omni.apps.OmniAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.headless",
    "omni.apps.OmniConfig",
    "inventory",
    "customers",
    "orders",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "omni.api.middleware.UnstorableInputMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "omni.urls"
WSGI_APPLICATION = "omni.wsgi.application"

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

# --- Database -------------------------------------------------------------------------------
# PostgreSQL only. Without DATABASE_URL: the demo's embedded server, which `make demo` starts
# and stops (scripts/embedded_pg.py: data in .pgdata/, 127.0.0.1:54329); settings only point
# at it, so `manage.py shell` works while it runs. Tests, CI and production set DATABASE_URL.
_EMBEDDED_DATABASE_URL = "postgres://postgres@127.0.0.1:54329/omni"
DATABASES = {"default": env.db("DATABASE_URL", default=_EMBEDDED_DATABASE_URL)}
if DATABASES["default"]["ENGINE"] not in (
    "django.db.backends.postgresql",
    "django.contrib.gis.db.backends.postgis",
):
    raise ImproperlyConfigured(
        "Omni runs on PostgreSQL only: set DATABASE_URL=postgres://user:pass@host:5432/omni "
        "(or unset it for the demo's embedded PostgreSQL)."
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Bind parameters on the server and prepare a statement once it has run five times on a
# connection (psycopg 3), so PostgreSQL stops parsing it again, and planning it again once
# a generic plan is as good. Behind a pooler in transaction mode (PgBouncer < 1.21), set
# DB_SERVER_SIDE_BINDING=False (which also turns preparing off).
if env.bool("DB_SERVER_SIDE_BINDING", default=True):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://omni")}

# --- Auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "omni.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/admin/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="optional")
# Staff accounts are created by back-office admins, not by self sign-up.
ACCOUNT_ADAPTER = "omni.auth.StaffAccountAdapter"
ACCOUNT_LOGOUT_REDIRECT_URL = "/accounts/login/"
# Shoppers sign in and up through allauth's headless API (/_allauth/browser|app/v1/...).
HEADLESS_ONLY = False
# Links in shopper e-mails (verify, reset) use allauth's own pages, shared with staff.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Omni"

# --- I18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Madrid"
USE_I18N = True
USE_TZ = True

# --- Static -----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
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

# --- E-mail -----------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Omni <no-reply@omni.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Security (strict unless DEBUG) -------------------------------------------------------------
# Reverse proxies in front of Omni that append the client's address to X-Forwarded-For (a load
# balancer, nginx). 0: Omni faces clients directly, X-Forwarded-* is ignored and the client is
# REMOTE_ADDR. N: the client is the N-th address from the right of X-Forwarded-For (what the
# outermost trusted proxy saw). Throttling, allauth's rate limits and consent evidence use it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
X_FRAME_OPTIONS = "DENY"

# --- REST API ---------------------------------------------------------------------------------


def _throttle_rate(name: str, default: str) -> str | None:
    """A DRF rate ("600/minute"); "off" turns that throttle off (no per-request bookkeeping)."""
    value = env(name, default=default).strip()
    return None if value.lower() in ("", "off", "none") else value


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "allauth.headless.contrib.rest_framework.authentication.XSessionTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["omni.api.permissions.ModelPermissionsOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "omni.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": _throttle_rate("API_THROTTLE_ANON", "600/minute"),
        "user": _throttle_rate("API_THROTTLE_USER", "3000/minute"),
        "events": _throttle_rate("API_THROTTLE_EVENTS", "100000/minute"),
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "EXCEPTION_HANDLER": "omni.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "omni.api.parsers.JSONParser",
        "omni.api.parsers.FormParser",
        "omni.api.parsers.MultiPartParser",
    ],
    "DEFAULT_VERSIONING_CLASS": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Request limits: a larger body is a 413, deeper JSON a 400 (omni.api.parsers, omni.errors).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)

SPECTACULAR_SETTINGS = {
    "TITLE": "Omni API",
    "DESCRIPTION": "Omnichannel retail back-office: catalog, stock, customers, orders, campaigns.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI assets are served from our own static files, not from a CDN.
    "ENUM_NAME_OVERRIDES": {
        "ConsentChannelEnum": "customers.models.ConsentChannel",
        "TouchpointChannelEnum": "customers.models.Channel",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
# No broker configured: run tasks in-process so the demo and the tests need no worker.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again ...
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ... so every task must be safe to run twice
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "customers-recompute-traits": {
        "task": "customers.tasks.recompute_all_traits",
        "schedule": crontab(minute=30, hour=2),
    },
    "inventory-expire-reservations": {
        "task": "inventory.tasks.expire_reservations",
        "schedule": 60.0,
    },
    "orders-pickup-housekeeping": {
        "task": "orders.tasks.pickup_housekeeping",
        "schedule": crontab(minute="*/5"),
    },
    "orders-abandon-idle-carts": {
        "task": "orders.tasks.abandon_idle_carts",
        "schedule": crontab(minute="*/5"),
    },
    "campaigns-advance-journeys": {
        "task": "campaigns.tasks.advance_journeys_task",
        "schedule": 60.0,
    },
    "campaigns-start-due": {
        "task": "campaigns.tasks.start_due_campaigns_task",
        "schedule": 60.0,
    },
    "omni-purge-idempotency-keys": {
        "task": "omni.tasks.purge_idempotency_keys",
        "schedule": crontab(minute=17, hour=3),
    },
}

# Messages (e.g. a pickup code shown once) stay on the server, not in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Omni -------------------------------------------------------------------------------------
IDEMPOTENCY_KEY_TTL = timedelta(hours=env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=48))
OMNI_PUBLIC_URL = env("OMNI_PUBLIC_URL", default="http://127.0.0.1:8000")
CONSENT_CONFIRM_MAX_AGE = env.int("CONSENT_CONFIRM_MAX_AGE", default=7 * 24 * 3600)
EVENTS_BATCH_LIMIT = 500
TRANSFER_DEFAULT_LEAD_DAYS = env.int("TRANSFER_DEFAULT_LEAD_DAYS", default=2)
# Lines one cart (and so one order) may hold: a checkout of that many stays well under a second.
CART_MAX_LINES = env.int("CART_MAX_LINES", default=100)
HEALTH_BROKER_TIMEOUT = env.float("HEALTH_BROKER_TIMEOUT", default=2.0)
# Hot paths (each app's queries.py) run hand-written SQL; off, they run their ORM reference
# twin instead — same answers, slower (BENCHMARKS.md shows both). The suite runs both ways.
OMNI_FAST_SQL = env.bool("OMNI_FAST_SQL", default=True)

# Messages to people (omni.messaging): a backend per channel.
MESSAGING_BACKENDS = {
    "email": env("MESSAGING_EMAIL_BACKEND", default="omni.messaging.EmailBackend"),
    "sms": env("MESSAGING_SMS_BACKEND", default="omni.messaging.ConsoleBackend"),
    "push": env("MESSAGING_PUSH_BACKEND", default="omni.messaging.ConsoleBackend"),
}
# omni.messaging.FileBackend (the demo) writes one JSON line per message into <dir>/<channel>.jsonl.
MESSAGING_FILE_DIR = Path(env("MESSAGING_FILE_DIR", default=str(BASE_DIR / "var" / "messages")))
# The mailbox named in List-Unsubscribe beside the one-click URL; route it to the unsubscribe
# handling (empty: the header carries the URL only).
MESSAGING_UNSUBSCRIBE_MAILTO = env(
    "MESSAGING_UNSUBSCRIBE_MAILTO", default="unsubscribe@omni.example"
)
# An SMS longer than this many segments (153 GSM-7 / 67 UCS-2 characters each) is refused.
MESSAGING_SMS_MAX_SEGMENTS = env.int("MESSAGING_SMS_MAX_SEGMENTS", default=3)
# The e-mail provider's bounce/complaint webhook signs its calls with this shared secret
# (HMAC-SHA256, campaigns.tracking.verify_webhook_signature); empty turns the webhook off (403).
CAMPAIGN_WEBHOOK_SECRET = env("CAMPAIGN_WEBHOOK_SECRET", default="")
# Marketing messages wait outside these local hours (campaigns.quiet_hours); equal = no quiet hours.
CAMPAIGN_QUIET_HOURS = tuple(env.list("CAMPAIGN_QUIET_HOURS", default=["21:00", "09:00"]))

# Orders. VAT per product tax class (Spain's rates, in percent); prices include VAT.
VAT_RATES = {"standard": "21", "reduced": "10", "super_reduced": "4", "exempt": "0"}
SHIPPING_FEE = env.str("SHIPPING_FEE", default="4.95")
FREE_SHIPPING_FROM = env.str("FREE_SHIPPING_FROM", default="50.00")
ORDERS_PAYMENT_PROVIDER = env("ORDERS_PAYMENT_PROVIDER", default="orders.payments.ManualProvider")
PICKUP_CODE_MAX_ATTEMPTS = 5
PICKUP_CODE_LOCKOUT = timedelta(minutes=15)

# Orders: abandoned carts. An open cart with lines left this many minutes without a change is
# abandoned (orders.tasks.abandon_idle_carts, every 5 minutes; campaigns' journeys follow up).
CART_ABANDON_MINUTES = env.int("CART_ABANDON_MINUTES", default=60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# Campaigns: the one contact budget, (messages, window) across every campaign and channel, with
# an override per campaign priority (e.g. {"high": (4, timedelta(days=7))}).
CAMPAIGN_CONTACT_BUDGET = (
    env.int("CAMPAIGN_CONTACT_BUDGET_MESSAGES", default=3),
    timedelta(days=env.int("CAMPAIGN_CONTACT_BUDGET_DAYS", default=7)),
)
CAMPAIGN_CONTACT_BUDGET_BY_PRIORITY: dict = {}
# Deliveries a sending task claims and sends per transaction.
CAMPAIGN_SEND_BATCH = env.int("CAMPAIGN_SEND_BATCH", default=500)
# Journeys: entries a sweep moves per transaction (the beat runs it every minute).
JOURNEY_SWEEP_BATCH = env.int("JOURNEY_SWEEP_BATCH", default=5_000)
# Attribution: an order within this many days after a message (sent, opened or clicked) is
# credited to it; a redeemed personal coupon credits its message whatever the time.
ATTRIBUTION_WINDOW = timedelta(days=env.int("ATTRIBUTION_WINDOW_DAYS", default=7))
# An uploaded campaign audience (a CSV of e-mails, phones or customer ids): its largest size in
# bytes and most data rows (campaigns.services.audience_upload).
CAMPAIGN_AUDIENCE_MAX_BYTES = env.int("CAMPAIGN_AUDIENCE_MAX_BYTES", default=20 * 1024 * 1024)
CAMPAIGN_AUDIENCE_MAX_ROWS = env.int("CAMPAIGN_AUDIENCE_MAX_ROWS", default=1_000_000)
# The shopper's unsubscribe link ({token}: campaigns.tracking.unsubscribe_token).
CAMPAIGN_UNSUBSCRIBE_URL = env(
    "CAMPAIGN_UNSUBSCRIBE_URL", default=OMNI_PUBLIC_URL.rstrip("/") + "/c/u/{token}/"
)
# An e-mail's links go through the click redirect and its HTML ends with the open pixel
# (campaigns.links); CAMPAIGN_TRACK_OPENS=false leaves the pixel out (clicks are still counted).
CAMPAIGN_CLICK_URL = env(
    "CAMPAIGN_CLICK_URL", default=OMNI_PUBLIC_URL.rstrip("/") + "/c/c/{token}/"
)
CAMPAIGN_OPEN_URL = env(
    "CAMPAIGN_OPEN_URL", default=OMNI_PUBLIC_URL.rstrip("/") + "/c/o/{token}.gif"
)
CAMPAIGN_TRACK_OPENS = env.bool("CAMPAIGN_TRACK_OPENS", default=True)
# A product's page on the storefront, for the products a campaign message shows ({slug}: the
# product's slug); empty: the messages show products without a link.
CAMPAIGN_PRODUCT_URL = env("CAMPAIGN_PRODUCT_URL", default="")
