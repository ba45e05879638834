from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.cache import never_cache
from django.views.i18n import JavaScriptCatalog
from django.views.static import serve

from agents.throttle import ThrottledAdminAuthenticationForm, throttle_login
from hitlnext_project import metrics

admin.site.login_form = ThrottledAdminAuthenticationForm


def healthz(request: HttpRequest) -> JsonResponse:
    """Load balancer health check: answers without touching the session or a template."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico whatever the page links; send them to the SVG icon."""
    return HttpResponsePermanentRedirect(static("hitlnext/favicon.svg"))


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics.serve_metrics, name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
    # The strings of the pages' scripts in the request's language (static/hitlnext/js/i18n.js;
    # the agent's profile or the browser's choice): a script from our own origin, as the CSP
    # wants. Not cached: one URL serves every language.
    path("jsi18n/", never_cache(JavaScriptCatalog.as_view()), name="javascript-catalog"),
    # The admin's login is budgeted like the agents' (agents/throttle.py): matched before the
    # admin's own URL, same name.
    path("admin/login/", throttle_login(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("chat/", include("webchat.urls")),
    path("", include("agents.urls")),
    path("", include("handoffs.urls")),
    path("", include("routing.urls")),
    path("", include("reports.urls")),
    # Uploaded avatars. Served by Django itself (small, few); a balancer may take over.
    path(
        f"{settings.MEDIA_URL.strip('/')}/<path:path>",
        serve,
        {"document_root": settings.MEDIA_ROOT},
    ),
]

# A database unavailable while a middleware reads the session or the user: 503, not 500.
handler500 = "hitlnext_project.shared.unavailable.server_error"
