"""hitlnext settings: one module, driven by environment variables.

Nothing set means the embedded default: SQLite (WAL) + in-memory channel layer, DEBUG on.
Production: DEBUG=false, SECRET_KEY and ALLOWED_HOSTS set (see README "Configuration").
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HITLNEXT_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}")
    return value


_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def env_duration(name: str, default: str) -> timedelta:
    """Durations are written like Botpress's: "10m", "30s", "2h" (a bare number is seconds)."""
    raw = os.environ.get(name) or default
    match = _DURATION.match(raw)
    if not match:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a duration like 30s, 10m or 2h")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def private_var_dir() -> Path:
    """VAR_DIR, created readable by its owner only: it holds the database and the keys."""
    VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    VAR_DIR.chmod(0o700)  # also one an earlier version made world-readable
    return VAR_DIR


def private_file(path: Path) -> Path:
    """Create `path` empty and owner-only (0600) before anything fills it; an existing one is
    made owner-only too."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        path.chmod(0o600)
    return path


def kept_secret_key() -> str:
    """Without SECRET_KEY (DEBUG only): a random key made on first run and kept in VAR_DIR, so
    sessions survive restarts and nothing is ever signed or encrypted under a known key."""
    path = private_var_dir() / "secret_key"
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process made it a moment ago: wait for its write
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.02)
        raise ImproperlyConfigured(f"{path} is empty: delete it to make a new key") from None
    key = secrets.token_urlsafe(50)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off")
    SECRET_KEY = kept_secret_key()

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

HTTPS = env_bool("HTTPS", not DEBUG)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "ninja",
    "csp",
    # The apps, lowest layer first: each may import only those listed before it (the
    # import-linter contract in pyproject.toml).
    "conversations",
    "webhooks",
    "agents",
    "handoffs",
    "routing",
    "api",
    "webchat",
    "reports",
]

MIDDLEWARE = [
    # First: the client's address and scheme as the trusted proxies report them.
    "hitlnext_project.shared.proxies.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language (Accept-Language) for every page: logged out, the web chat...
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ...and a signed-in agent's pages in the language chosen on their profile.
    "agents.middleware.AgentLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so the first to see a view's exception: the database unavailable is a 503.
    "hitlnext_project.shared.unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "hitlnext_project.urls"
ASGI_APPLICATION = "hitlnext_project.asgi.application"
WSGI_APPLICATION = "hitlnext_project.wsgi.application"

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
                "csp.context_processors.nonce",
                "agents.context_processors.agent",
                "routing.context_processors.load",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # One pool per process; Daphne threads and the worker share it (CONN_MAX_AGE stays 0).
        # Around a database restart every request answers within about a second: a 503 while
        # the server is down (a request waits `timeout` for a connection, which a healthy
        # server gives in milliseconds: a process has one thread for sync work, plus the
        # worker's), a 200 as soon as it is back. The backend checks each connection it takes
        # from the pool and replaces them all when one is dead (see there). The pool would
        # retry a failed connection in the background with a doubling backoff (1, 2, 4, 8 s...)
        # that requests waited out after the restart; without (reconnect_timeout 0) the next
        # request connects at once. connect_timeout bounds an attempt to an unreachable host
        # (libpq waits forever by default).
        DATABASES["default"]["ENGINE"] = "hitlnext_project.shared.postgresql"
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", 3)
        # HITLNEXT_DB_POOL_SIZE: connections per process. Daphne runs sync work on a few
        # threads (10 is ample); a gunicorn process needs one per thread, which
        # deploy/gunicorn.conf.py sets (threads + 1) unless this is set.
        options["pool"] = {
            "min_size": 1,
            "max_size": env_int("HITLNEXT_DB_POOL_SIZE", 10, minimum=1),
            "timeout": 1,
            "reconnect_timeout": 0,
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # Owner-only, like its folder: it holds every conversation (SQLite gives its -wal
            # and -shm files the same mode).
            "NAME": str(private_file(private_var_dir() / "hitlnext.sqlite3")),
            "TEST": {"NAME": VAR_DIR / "test.sqlite3"},
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Whatever names the file (the default or a sqlite:/// DATABASE_URL): WAL lets the worker
    # read while Daphne writes; IMMEDIATE takes the write lock at BEGIN, so two writers (the
    # server and a separate run_worker) queue for up to `timeout` seconds instead of failing
    # at once on a lock upgrade ("database is locked").
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    } | DATABASES["default"].get("OPTIONS", {})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer --------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
        "default": {
            # channels_redis's layer on a pool that waits for a free connection (see there).
            "BACKEND": "hitlnext_project.shared.channel_layer.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, the same 5 s a
                # consumer's idle BZPOPMIN blocks for: the read lost that race and idle sockets
                # were closed with 1011 every few seconds. Reads wait longer than the pop.
                # Up to 100 connections per process; a burst past that waits up to 20 s.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "max_connections": 100,
                        "timeout": 20,
                    }
                ],
                "prefix": os.environ.get("HITLNEXT_REDIS_PREFIX", "hitlnext"),
                "capacity": 1000,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth, sessions, security ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Django's, with the agent's profile joined to the user's query (agents/backends.py); Django's
# own stays for sessions signed in before it was added.
AUTHENTICATION_BACKENDS = [
    "agents.backends.AgentBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("HITLNEXT_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Probed by load balancers and scrapers talking to a process directly, over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

# Content Security Policy: no inline script anywhere; htmx's indicator style gets the nonce.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", NONCE],
        # https: pictures a bot relays (payload type "image") show as thumbnails.
        "img-src": ["'self'", "data:", "https:"],
        "connect-src": ["'self'"],
        "media-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
# The web chat page alone may be framed, by these CSP frame-ancestors sources (space or comma
# separated, e.g. "'self' https://www.example.com"): the sites that embed the chat widget.
HITLNEXT_WEBCHAT_FRAME_ANCESTORS = os.environ.get(
    "HITLNEXT_WEBCHAT_FRAME_ANCESTORS", "'self'"
).replace(",", " ").split() or ["'self'"]

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# The server serves its own static files (no separate web server needed); finders mean no
# collectstatic step is required before the first run.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("HITLNEXT_MEDIA_ROOT", VAR_DIR / "media"))
# Message attachments (conversations/attachments.py) live in their own storage, never under
# MEDIA_ROOT (served to anyone at /media/): only the access-checked view hands them out.
# Local files under the var dir by default; any Django storage by configuration, e.g.
# HITLNEXT_ATTACHMENT_STORAGE_BACKEND=storages.backends.s3.S3Storage (django-storages,
# optional) with HITLNEXT_ATTACHMENT_STORAGE_OPTIONS='{"bucket_name": "...", "endpoint_url":
# "https://s3.example.com"}' (a JSON object of the backend's options).
HITLNEXT_ATTACHMENT_STORAGE_BACKEND = (
    os.environ.get("HITLNEXT_ATTACHMENT_STORAGE_BACKEND", "").strip()
    or "django.core.files.storage.FileSystemStorage"
)
try:
    _attachment_options = json.loads(os.environ.get("HITLNEXT_ATTACHMENT_STORAGE_OPTIONS") or "{}")
except ValueError:
    raise ImproperlyConfigured("HITLNEXT_ATTACHMENT_STORAGE_OPTIONS is not valid JSON") from None
if not isinstance(_attachment_options, dict):
    raise ImproperlyConfigured("HITLNEXT_ATTACHMENT_STORAGE_OPTIONS must be a JSON object")
if HITLNEXT_ATTACHMENT_STORAGE_BACKEND == "django.core.files.storage.FileSystemStorage":
    _attachment_options = {
        "location": str(VAR_DIR / "attachments"),
        "base_url": None,
        "directory_permissions_mode": 0o700,
        "file_permissions_mode": 0o600,
    } | _attachment_options
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "attachments": {
        "BACKEND": HITLNEXT_ATTACHMENT_STORAGE_BACKEND,
        "OPTIONS": _attachment_options,
    },
}

LANGUAGE_CODE = "en"
# The agent pages and the web chat (README "Languages"): each agent picks one on the profile,
# a web chat visitor gets the browser's. Catalogs in locale/, compiled by `manage.py
# compilemessages` (ours: no GNU gettext needed).
LANGUAGES = [("en", "English"), ("fr", "Français"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}

# --- hitlnext -------------------------------------------------------------------------------
HITLNEXT_AGENT_SESSION_TIMEOUT = env_duration("HITLNEXT_AGENT_SESSION_TIMEOUT", "10m")
HITLNEXT_MESSAGE_COUNT = env_int("HITLNEXT_MESSAGE_COUNT", 10, minimum=1)
HITLNEXT_HANDOFF_ALERT = env_duration("HITLNEXT_HANDOFF_ALERT", "5m")
HITLNEXT_DEFAULT_USERNAME = env_bool("HITLNEXT_DEFAULT_USERNAME", False)
HITLNEXT_ENABLE_CONVERSATION_DELETION = env_bool("HITLNEXT_ENABLE_CONVERSATION_DELETION", False)
HITLNEXT_AUTOCOMPLETE_TRIGGER = os.environ.get("HITLNEXT_AUTOCOMPLETE_TRIGGER", ":") or ":"
# Routing (routing/): "manual", agents pick with "Assign to me"; "auto", the queue's head goes
# to the least loaded online agent with room. Capacity: open handoffs per agent unless their
# profile says otherwise, 0 = unlimited. Reassignment: an assigned handoff whose user has
# waited this long for the agent's answer goes back to the queue; 0 = never.
HITLNEXT_ASSIGNMENT = (os.environ.get("HITLNEXT_ASSIGNMENT") or "manual").strip().lower()
if HITLNEXT_ASSIGNMENT not in {"manual", "auto"}:
    raise ImproperlyConfigured(
        f"HITLNEXT_ASSIGNMENT={os.environ['HITLNEXT_ASSIGNMENT']!r} is not manual or auto"
    )
HITLNEXT_AGENT_CAPACITY = env_int("HITLNEXT_AGENT_CAPACITY", 3)
HITLNEXT_REASSIGN_AFTER = env_duration("HITLNEXT_REASSIGN_AFTER", "0")
# Webhook delivery: per-attempt timeout and how long a failing event keeps being retried.
HITLNEXT_WEBHOOK_TIMEOUT = env_duration("HITLNEXT_WEBHOOK_TIMEOUT", "10s")
HITLNEXT_WEBHOOK_RETRY_FOR = env_duration("HITLNEXT_WEBHOOK_RETRY_FOR", "3d")
HITLNEXT_API_MAX_BODY = 256 * 1024
# Absolute base URL of this server (e.g. https://inbox.example.com), used for links that
# leave it: agent avatars in webhook payloads.
HITLNEXT_PUBLIC_URL = os.environ.get("HITLNEXT_PUBLIC_URL", "").rstrip("/")
# Attachments (conversations/attachments.py): the largest file, what may be sent (file
# extensions and/or content types, comma separated), and how long a signed link in an event
# or the web chat stays valid.
HITLNEXT_ATTACHMENT_MAX_BYTES = env_int(
    "HITLNEXT_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1
)
HITLNEXT_ATTACHMENT_TYPES = [
    t.strip().lower()
    for t in (
        os.environ.get("HITLNEXT_ATTACHMENT_TYPES")
        or ".png,.jpg,.jpeg,.gif,.webp,.pdf,.txt,.csv,.doc,.docx,.xls,.xlsx,.ppt,.pptx,"
        ".odt,.ods,.odp,.zip"
    ).split(",")
    if t.strip()
]
HITLNEXT_ATTACHMENT_URL_TTL = env_duration("HITLNEXT_ATTACHMENT_URL_TTL", "24h")
HITLNEXT_DEMO_PORT = env_int("PORT", 8000, minimum=1)
# A worker leases a delivery for this long while it is in flight; other workers skip it until
# then, and a worker killed mid-delivery leaves it to the next one after it runs out.
HITLNEXT_WEBHOOK_LEASE = env_duration("HITLNEXT_WEBHOOK_LEASE", "2m")
if HITLNEXT_WEBHOOK_LEASE <= HITLNEXT_WEBHOOK_TIMEOUT:
    raise ImproperlyConfigured(
        "HITLNEXT_WEBHOOK_LEASE must be longer than HITLNEXT_WEBHOOK_TIMEOUT"
    )
if HITLNEXT_WEBHOOK_RETRY_FOR < timedelta(hours=24):
    raise ImproperlyConfigured("HITLNEXT_WEBHOOK_RETRY_FOR must be at least 24h")
# Messages of conversations whose handoffs ended longer ago than this are purged by the
# worker (hourly) and by `manage.py purge_messages`. 0 keeps everything.
HITLNEXT_RETENTION_DAYS = env_int("HITLNEXT_RETENTION_DAYS", 0)
# Events (the feed and the outbox) are kept this long, unless their webhook is still pending.
HITLNEXT_EVENT_RETENTION = env_duration("HITLNEXT_EVENT_RETENTION", "30d")
# httpx logs every request's full URL at INFO, and a webhook URL may carry credentials.
LOGGING["loggers"]["httpx"] = {"level": "WARNING"}

# --- Hardening: cache, abuse limits, webhook destinations, encryption at rest ---------------
from redis import exceptions as redis_exceptions  # noqa: E402

from hitlnext_project.shared.proxies import parse_trusted_proxies  # noqa: E402
from hitlnext_project.shared.ratelimit import parse_rate  # noqa: E402

# The cache holds rate-limit counters: in Redis when REDIS_URL is set, so a limit holds across
# every Daphne process; in process memory for the embedded single process.
if REDIS_URL:
    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "hitlnext_project.shared.cache.RedisCache",  # one client per process
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("HITLNEXT_REDIS_PREFIX", "hitlnext"),
            # A Redis outage must cost a request a second at most (limits then fail open).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def env_rate(name: str, default: str) -> tuple[int, int]:
    raw = os.environ.get(name) or default
    try:
        return parse_rate(raw)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}: {error}") from None


# Bot API requests per bot key: "600/m" (also N/s, N/h); 0 disables. Over it: 429 + Retry-After.
HITLNEXT_API_RATE_LIMIT = env_rate("HITLNEXT_API_RATE_LIMIT", "600/m")
# Refuse webhook URLs that resolve to loopback, private, link-local or reserved addresses, when
# saved and again at each delivery (off by default: many bots run next to the inbox).
HITLNEXT_WEBHOOK_REFUSE_PRIVATE = env_bool("HITLNEXT_WEBHOOK_REFUSE_PRIVATE", False)
# Webhook secrets are stored encrypted (conversations/crypto.py) with this key, or SECRET_KEY
# when it is unset. Old keys stay usable for decryption: HITLNEXT_ENCRYPTION_KEY_FALLBACKS, and
# SECRET_KEY_FALLBACKS (Django's own list for rotating SECRET_KEY), both comma separated.
HITLNEXT_ENCRYPTION_KEY = os.environ.get("HITLNEXT_ENCRYPTION_KEY", "")
HITLNEXT_ENCRYPTION_KEY_FALLBACKS = [
    k.strip()
    for k in os.environ.get("HITLNEXT_ENCRYPTION_KEY_FALLBACKS", "").split(",")
    if k.strip()
]
SECRET_KEY_FALLBACKS = [
    k.strip() for k in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if k.strip()
]
# Redis connections left over from before a Redis restart fail on first use: retry such a
# command once on a fresh connection, so the first live push (or a socket joining its groups)
# after a restart is not lost. A retried group_send at worst pushes a nudge twice.
HITLNEXT_REDIS_OPTIONS = {
    "retry_on_error": [redis_exceptions.ConnectionError, redis_exceptions.TimeoutError]
}
if REDIS_URL:
    for _host in CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]:
        _host["retry_on_error"] = list(HITLNEXT_REDIS_OPTIONS["retry_on_error"])
    CACHES["default"]["OPTIONS"]["retry_on_error"] = list(HITLNEXT_REDIS_OPTIONS["retry_on_error"])
# After a PostgreSQL restart or failover every pooled connection is dead: the backend
# (hitlnext_project.shared.postgresql) checks each one as it leaves the pool (one cheap round
# trip), so requests get a fresh one instead of an error. Not the pool's own check as well
# (CONN_HEALTH_CHECKS), whose backoff between dead connections is what made requests slow.
# Failed logins (agents/views.py): per username ("5/15m": five failures, then locked until the
# 15-minute window ends; a success resets it) and per client address, larger so one office
# behind a NAT is not locked out by one typo-prone colleague. 0 disables.
HITLNEXT_LOGIN_FAILURES_PER_USERNAME = env_rate("HITLNEXT_LOGIN_FAILURES_PER_USERNAME", "5/15m")
HITLNEXT_LOGIN_FAILURES_PER_IP = env_rate("HITLNEXT_LOGIN_FAILURES_PER_IP", "50/15m")
# The anonymous web chat (webchat/limits.py), counted in the cache before any database work,
# per client address (IPv6 per /64) and overall; 0 disables one. The per-address budgets let a
# few people behind one NAT chat at once; the overall ones bound what many addresses together
# can write: new chats and handoffs are what land in the agents' inbox. New visitors: ids
# issued by GET /chat/ (429 past it; the widget loads the page on first open only).
HITLNEXT_WEBCHAT_NEW_VISITORS_PER_IP = env_rate("HITLNEXT_WEBCHAT_NEW_VISITORS_PER_IP", "30/h")
HITLNEXT_WEBCHAT_NEW_VISITORS = env_rate("HITLNEXT_WEBCHAT_NEW_VISITORS", "1000/h")
# "Talk to a person" presses: each can open a pending handoff for the agents.
HITLNEXT_WEBCHAT_HANDOFFS_PER_IP = env_rate("HITLNEXT_WEBCHAT_HANDOFFS_PER_IP", "5/h")
HITLNEXT_WEBCHAT_HANDOFFS = env_rate("HITLNEXT_WEBCHAT_HANDOFFS", "100/h")
# Visitor messages (each visitor also has 10 per 10 seconds of its own).
HITLNEXT_WEBCHAT_MESSAGES_PER_IP = env_rate("HITLNEXT_WEBCHAT_MESSAGES_PER_IP", "60/m")
HITLNEXT_WEBCHAT_MESSAGES = env_rate("HITLNEXT_WEBCHAT_MESSAGES", "3000/m")
# Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: addresses or networks
# ("127.0.0.1,10.0.0.0/8"), and "unix" for a proxy on Daphne's unix socket. None by default:
# then the peer is the client and those headers are ignored.
try:
    HITLNEXT_TRUSTED_PROXIES = parse_trusted_proxies(
        p.strip() for p in os.environ.get("HITLNEXT_TRUSTED_PROXIES", "").split(",") if p.strip()
    )
except ValueError as _error:
    raise ImproperlyConfigured(f"HITLNEXT_TRUSTED_PROXIES: {_error}") from None
# GET /metrics (hitlnext_project/metrics.py): with a token, only `Authorization: Bearer <token>`
# is answered; without one, only loopback clients are.
HITLNEXT_METRICS_TOKEN = os.environ.get("HITLNEXT_METRICS_TOKEN", "").strip()
if HITLNEXT_METRICS_TOKEN and not re.fullmatch(r"[A-Za-z0-9._~+/-]{16,}=*", HITLNEXT_METRICS_TOKEN):
    raise ImproperlyConfigured(
        "HITLNEXT_METRICS_TOKEN must be at least 16 characters of A-Z a-z 0-9 - . _ ~ + / "
        "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )
