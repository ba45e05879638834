"""Agent presence: online/offline and the inactivity deadline the worker enforces."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from agents import live, signals
from agents.errors import AgentOffline
from agents.models import AgentProfile
from hitlnext_project.shared.push import announce


def profile_for(user: User) -> AgentProfile:
    profile, _ = AgentProfile.objects.get_or_create(user=user)
    return profile


def set_online(*, agent: User, online: bool) -> AgentProfile:
    now = timezone.now()
    profile = profile_for(agent)
    with transaction.atomic():
        deadline = now + settings.HITLNEXT_AGENT_SESSION_TIMEOUT if online else None
        AgentProfile.objects.filter(pk=profile.pk).update(
            online=online, session_expires_at=deadline, last_activity_at=now
        )
        if profile.online != online:
            transaction.on_commit(partial(live.presence_changed, agent.pk))
            if online:
                _announce_availability(agent.pk)
    profile.online, profile.session_expires_at, profile.last_activity_at = online, deadline, now
    return profile


def _announce_availability(user_id: int) -> None:
    transaction.on_commit(
        partial(announce, signals.availability_changed, sender=AgentProfile, user_id=user_id)
    )


def routing_settings_changed(*, agent: User) -> None:
    """An admin saved the agent's capacity or languages: routing looks at the queue again
    (after the admin's transaction commits)."""
    _announce_availability(agent.pk)


def record_activity(*, agent: User) -> bool:
    """Push the inactivity deadline back; returns False if the agent is not online.

    A conditional UPDATE: an agent the worker has just set offline stays offline.
    """
    now = timezone.now()
    return (
        AgentProfile.objects.filter(user=agent, online=True).update(
            session_expires_at=now + settings.HITLNEXT_AGENT_SESSION_TIMEOUT,
            last_activity_at=now,
        )
        == 1
    )


def require_online(agent: User) -> None:
    """Refuse an action from an offline agent, and count it as activity otherwise."""
    if not record_activity(agent=agent):
        raise AgentOffline()


def expire_agent_sessions(*, now: datetime | None = None) -> int:
    """Set offline every agent whose inactivity deadline has passed (the worker's timer)."""
    now = now or timezone.now()
    due = list(
        AgentProfile.objects.filter(online=True, session_expires_at__lte=now).values_list(
            "pk", "user_id"
        )
    )
    expired = 0
    for pk, user_id in due:
        with transaction.atomic():
            # Conditional: activity recorded since we looked moved the deadline; keep them.
            changed = AgentProfile.objects.filter(
                pk=pk, online=True, session_expires_at__lte=now
            ).update(online=False, session_expires_at=None)
            if changed:
                expired += 1
                transaction.on_commit(partial(live.presence_changed, user_id))
    return expired


def update_profile(
    *,
    agent: User,
    first_name: str,
    last_name: str,
    avatar: UploadedFile | None = None,
    clear_avatar: bool = False,
    browser_notifications: bool | None = None,
    play_sound: bool | None = None,
    interface_language: str | None = None,
) -> AgentProfile:
    """Save the names and avatar the user's side sees (other agents' headers update live),
    and the agent's own alert settings when given."""
    profile = profile_for(agent)
    with transaction.atomic():
        agent.first_name, agent.last_name = first_name.strip(), last_name.strip()
        agent.save(update_fields=["first_name", "last_name"])
        settings_given = {
            name: value
            for name, value in (
                ("browser_notifications", browser_notifications),
                ("play_sound", play_sound),
                ("interface_language", interface_language),
            )
            if value is not None
        }
        if settings_given:
            # An UPDATE of these columns only: the presence columns are the switch's and the
            # worker's, written concurrently.
            AgentProfile.objects.filter(pk=profile.pk).update(**settings_given)
            for name, value in settings_given.items():
                setattr(profile, name, value)
        old_avatar = profile.avatar.name if profile.avatar else ""
        if avatar is not None:
            assert avatar.name, "ProfileForm.clean_avatar names every upload"
            profile.avatar.save(avatar.name, avatar, save=False)
        elif clear_avatar:
            profile.avatar = ""
        if avatar is not None or clear_avatar:
            profile.save(update_fields=["avatar"])
            if old_avatar:
                # The old file goes only once the new row is committed.
                storage = profile.avatar.storage
                transaction.on_commit(partial(storage.delete, old_avatar))
        transaction.on_commit(partial(live.presence_changed, agent.pk))
    return profile
