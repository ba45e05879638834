"""gunicorn settings for hitlnext's HTTP (bot API, pages, admin, static files) in the scale-out
deployment, where Daphne serves only the websockets (deploy/nginx.conf routes /ws/ to it).

    gunicorn -c deploy/gunicorn.conf.py --bind unix:/run/hitlnext/http-1.sock \
        hitlnext_project.wsgi:application

(deploy/hitlnext-http@.service). Read from the environment (/etc/hitlnext.env), with defaults:
HITLNEXT_HTTP_WORKERS (processes, 2: about one per core), HITLNEXT_HTTP_THREADS (threads per
process, 8: requests mostly wait on PostgreSQL and Redis). Pushes to open pages go through the
Redis channel layer (REDIS_URL is required: hitlnext_project/wsgi.py refuses to start without).
"""

from __future__ import annotations

import os

wsgi_app = "hitlnext_project.wsgi:application"
bind = [os.environ.get("HITLNEXT_HTTP_BIND", "unix:/run/hitlnext/http-1.sock")]
worker_class = "gthread"
workers = int(os.environ.get("HITLNEXT_HTTP_WORKERS", "2"))
threads = int(os.environ.get("HITLNEXT_HTTP_THREADS", "8"))

# Each thread holds a database connection while it serves a request, and the pool waits at
# most a second for one (hitlnext_project/settings.py): one per thread, plus one for a thread
# that finishes a request while the next one starts. An explicit HITLNEXT_DB_POOL_SIZE wins.
os.environ.setdefault("HITLNEXT_DB_POOL_SIZE", str(threads + 1))

# A request past this is killed with its worker (the API answers in milliseconds; an export may
# take seconds). On SIGTERM (a deploy, systemctl stop) requests in flight get this long to end.
timeout = 60
graceful_timeout = 30
# nginx keeps connections to the workers open (upstream keepalive); idle ones close after this.
keepalive = 30

# No access log (nginx has one); errors to stderr, which systemd sends to the journal.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Who the client is: hitlnext decides, not gunicorn. TrustedProxyMiddleware believes
# X-Forwarded-For / -Proto only from HITLNEXT_TRUSTED_PROXIES, and Django reads the scheme from
# X-Forwarded-Proto after it (SECURE_PROXY_SSL_HEADER). gunicorn would set the scheme itself
# from such headers of any peer in forwarded_allow_ips (and of every unix-socket peer), so it
# reads none of them, and its own list is the same one, minus "unix" (gunicorn trusts a
# unix-socket peer always, as HITLNEXT_TRUSTED_PROXIES=unix does).
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = ",".join(
    entry.strip()
    for entry in os.environ.get("HITLNEXT_TRUSTED_PROXIES", "").split(",")
    if entry.strip() and entry.strip() != "unix"
)
