from __future__ import annotations

from django.urls import path

from handoffs import views

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("inbox/list/", views.inbox_list, name="inbox_list"),
    path("handoffs/<int:handoff_id>/", views.handoff_detail, name="handoff"),
    path("handoffs/<int:handoff_id>/messages/", views.handoff_messages, name="handoff_messages"),
    path("handoffs/<int:handoff_id>/assign/", views.assign, name="handoff_assign"),
    path("handoffs/<int:handoff_id>/send/", views.send, name="handoff_send"),
    path("handoffs/<int:handoff_id>/resolve/", views.resolve, name="handoff_resolve"),
]
