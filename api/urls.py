"""The bot API under /api/v1/ (included by hitlnext_project/urls.py)."""

from __future__ import annotations

from django.urls import URLPattern, include, path, re_path

from api.endpoints import api, guard, not_found


def _guarded_api_urls() -> tuple[list[URLPattern], str]:
    patterns, ninja_app_name, _ = api.urls
    guarded = []
    for p in patterns:
        assert isinstance(p, URLPattern), "ninja's urls are flat, one pattern per operation"
        guarded.append(URLPattern(p.pattern, guard(p.callback), p.default_args, p.name))
    return guarded, ninja_app_name


urlpatterns = [
    path("", include(_guarded_api_urls(), namespace=api.urls_namespace)),
    # Anything else under /api/v1/ answers in the API's JSON error shape too.
    re_path(r"^", not_found),
]
