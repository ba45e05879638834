from __future__ import annotations

from django.urls import path

from routing import views

urlpatterns = [
    path("handoffs/<int:handoff_id>/transfer/", views.transfer, name="handoff_transfer"),
]
