"""The floors' WSGI app, served by gunicorn like hitlnext's HTTP: `bench.floor_wsgi:application`
(the same settings and middleware; bench.floor_urls)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor_settings"
application = get_wsgi_application()
