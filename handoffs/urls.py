from __future__ import annotations

from django.urls import path

from handoffs import attachment_views, contact_views, search_views, views

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("inbox/list/", views.inbox_list, name="inbox_list"),
    path("search/", search_views.search, name="search"),
    path("handoffs/<int:handoff_id>/", views.handoff_detail, name="handoff"),
    path("handoffs/<int:handoff_id>/messages/", views.handoff_messages, name="handoff_messages"),
    path("handoffs/<int:handoff_id>/assign/", views.assign, name="handoff_assign"),
    path("handoffs/<int:handoff_id>/send/", views.send, name="handoff_send"),
    path(
        "attachments/<int:attachment_id>/",
        attachment_views.serve_attachment,
        name="attachment",
    ),
    path("handoffs/<int:handoff_id>/resolve/", views.resolve, name="handoff_resolve"),
    path("handoffs/<int:handoff_id>/contact/", contact_views.contact, name="handoff_contact"),
    path("handoffs/<int:handoff_id>/notes/", contact_views.add_note, name="handoff_notes"),
    path("handoffs/<int:handoff_id>/labels/", contact_views.set_labels, name="handoff_labels"),
    path(
        "handoffs/<int:handoff_id>/templates/",
        contact_views.message_templates,
        name="handoff_templates",
    ),
    path(
        "handoffs/<int:handoff_id>/delete/",
        contact_views.delete_conversation,
        name="handoff_delete",
    ),
]
