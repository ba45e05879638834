"""Agents in the admin: Django's user admin plus the agent profile (avatar, presence)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy, ngettext

from agents.models import AgentProfile
from agents.services import profile_for, routing_settings_changed, set_online

User = get_user_model()


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    can_delete = False
    max_num = 1
    verbose_name = verbose_name_plural = gettext_lazy("agent profile")
    fields = (
        "avatar",
        "capacity",
        "languages",
        "online",
        "session_expires_at",
        "last_activity_at",
        "last_assigned_at",
    )
    # Presence is the agent's own switch and the worker's timer, not an admin field.
    readonly_fields = ("online", "session_expires_at", "last_activity_at", "last_assigned_at")


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    """Who is online right now; edited from the agent (user) page."""

    list_display = (
        "user",
        "online",
        "capacity",
        "languages",
        "session_expires_at",
        "last_activity_at",
    )
    list_filter = ("online",)
    list_select_related = ("user",)
    search_fields = ("user__username", "user__first_name", "user__last_name")
    actions = ["set_offline"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Set selected agents offline"))
    def set_offline(self, request: HttpRequest, queryset: QuerySet[AgentProfile]) -> None:
        _set_offline(self, request, [profile.user for profile in queryset.select_related("user")])


admin.site.unregister(User)


@admin.register(User)
class AgentAdmin(UserAdmin):
    list_display = (
        "username",
        "first_name",
        "last_name",
        "is_active",
        "is_staff",
        "is_superuser",
        "online",
    )
    list_filter = ("is_active", "is_staff", "is_superuser", "agent_profile__online")
    list_select_related = ("agent_profile",)
    inlines = [AgentProfileInline]
    actions = ["set_offline"]

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        # One transaction: the revocation pushed after commit (agents/revocation.py) then
        # reaches the sockets after update_session_auth_hash re-keyed the admin's own session,
        # so their own page reconnects signed in instead of being sent to the login.
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)

    def get_inlines(self, request: HttpRequest, obj):
        # The add page stays Django's two-step one; the profile is created with the user.
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            profile_for(obj)

    def save_formset(self, request, form, formset, change) -> None:
        super().save_formset(request, form, formset, change)
        if any({"capacity", "languages"} & set(f.changed_data) for f in formset.forms):
            # More room or a new language may fit a queued handoff (auto-assignment).
            routing_settings_changed(agent=form.instance)

    @admin.display(
        boolean=True, description=gettext_lazy("online"), ordering="agent_profile__online"
    )
    def online(self, user) -> bool | None:
        profile = getattr(user, "agent_profile", None)
        return profile.online if profile is not None else None

    @admin.action(description=gettext_lazy("Set selected agents offline"))
    def set_offline(self, request: HttpRequest, queryset: QuerySet) -> None:
        _set_offline(self, request, list(queryset))


def _set_offline(model_admin: admin.ModelAdmin, request: HttpRequest, users: list) -> None:
    for user in users:
        set_online(agent=user, online=False)
    count = len(users)
    model_admin.message_user(
        request,
        ngettext("%(count)s agent set offline.", "%(count)s agents set offline.", count)
        % {"count": count},
        messages.SUCCESS,
    )
