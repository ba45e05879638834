from __future__ import annotations

from django.urls import path

from webchat import views

urlpatterns = [
    path("", views.chat, name="webchat"),
    path("demo/", views.demo, name="webchat_demo"),
    path("attach/", views.attach, name="webchat_attach"),
]
