from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from agents import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="agents/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", views.logout_view, name="logout"),
    path("profile/", views.profile, name="profile"),
    path("presence/", views.presence, name="presence"),
]
