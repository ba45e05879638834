from __future__ import annotations

from django.urls import path

from conversations import webchat_views

urlpatterns = [
    path("", webchat_views.chat, name="webchat"),
    path("demo/", webchat_views.demo, name="webchat_demo"),
]
