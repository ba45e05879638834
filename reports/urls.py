from __future__ import annotations

from django.urls import path

from reports import views

urlpatterns = [
    path("reports/", views.reports, name="reports"),
    path("reports/live/", views.live, name="reports_live"),
]
