"""WSGI entry point: HTTP on gunicorn in the scale-out deployment (deploy/gunicorn.conf.py),
with Daphne serving only the websockets (deploy/nginx.conf)."""

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitlnext_project.settings")
application = get_wsgi_application()

from hitlnext_project.shared.push import pushes_cross_processes  # noqa: E402

if "gunicorn" in sys.modules and not pushes_cross_processes():
    # A WSGI server holds no websocket: every page's socket is in a Daphne process, which the
    # in-memory layer of this process never reaches. Live updates would silently stop.
    raise ImproperlyConfigured(
        "Serving HTTP with gunicorn needs REDIS_URL: the pages' websockets are in Daphne "
        "processes, and only the Redis channel layer carries live updates to them."
    )
