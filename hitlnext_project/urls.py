from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.static import serve


def healthz(request: HttpRequest) -> JsonResponse:
    """Load balancer health check: answers without touching the session or a template."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("conversations.api_urls")),
    path("chat/", include("conversations.webchat_urls")),
    path("", include("agents.urls")),
    path("", include("handoffs.urls")),
    # Uploaded avatars. Served by Django itself (small, few); a balancer may take over.
    path(
        f"{settings.MEDIA_URL.strip('/')}/<path:path>",
        serve,
        {"document_root": settings.MEDIA_ROOT},
    ),
]
