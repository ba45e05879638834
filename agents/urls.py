from __future__ import annotations

from django.urls import path

from agents import views

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("profile/", views.profile, name="profile"),
    path("presence/", views.presence, name="presence"),
]
