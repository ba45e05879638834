from __future__ import annotations

import hashlib
import math

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from agents import live
from agents.forms import ProfileForm
from agents.services import profile_for, set_online, update_profile
from hitlnext_project.shared import ratelimit

_login_view = auth_views.LoginView.as_view(
    template_name="agents/login.html", redirect_authenticated_user=True
)


def _login_budgets(request: HttpRequest) -> list[tuple[str, int, int]]:
    """(key, limit, window) of each failure budget this attempt draws on."""
    username = request.POST.get("username", "").strip().lower()
    # Hashed: a username never lands in a cache key as typed (length, odd characters).
    digest = hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()
    user_limit, user_window = settings.HITLNEXT_LOGIN_FAILURES_PER_USERNAME
    ip_limit, ip_window = settings.HITLNEXT_LOGIN_FAILURES_PER_IP
    address = request.META.get("REMOTE_ADDR", "")
    return [
        (f"login:user:{digest}", user_limit, user_window),
        (f"login:ip:{address}", ip_limit, ip_window),
    ]


@sensitive_post_parameters()
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    """Django's login, with failures counted per username and per client address.

    Once a budget is spent every attempt is refused before the password is even checked, the
    right one too, with the same answer whether the username exists or not.
    """
    if request.method != "POST":
        return _login_view(request)
    budgets = _login_budgets(request)
    waits = [ratelimit.blocked(key, limit=limit, window=window) for key, limit, window in budgets]
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        minutes = math.ceil(wait / 60)
        # Bound (the username stays typed) but never cleaned: cleaning would check the password.
        form = AuthenticationForm(request, data=request.POST)
        form.cleaned_data, form._errors = {}, ErrorDict()
        form.add_error(
            None,
            f"Too many failed attempts. Try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}.",
        )
        context = {"form": form, "next": request.POST.get("next", "")}
        response = render(request, "agents/login.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response
    response = _login_view(request)
    if request.user.is_authenticated:
        # A success forgets this username's failures; the address keeps its count.
        key, _, window = budgets[0]
        ratelimit.reset(key, window=window)
    else:
        for key, limit, window in budgets:
            ratelimit.hit(key, limit=limit, window=window)
    return response


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    user_id, session_key = request.user.pk, request.session.session_key
    if request.user.is_authenticated:
        # Leaving means not available: nobody should wait on an agent who logged out.
        set_online(agent=request.user, online=False)
    logout(request)
    if user_id is not None:
        live.session_ended(user_id, session_key or "")
    return redirect("login")


@login_required
@require_POST
def presence(request: HttpRequest) -> HttpResponse:
    """The header's "Online" switch: the response is the switch in its new state."""
    online = request.POST.get("online") == "true"
    profile = set_online(agent=request.user, online=online)
    return render(request, "agents/presence.html#switch", {"my_profile": profile})


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    agent_profile = profile_for(request.user)
    saved = False
    status = 200
    if request.method == "POST":
        form = ProfileForm(request.POST, request.FILES)
        if form.is_valid():
            agent_profile = update_profile(
                agent=request.user,
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                avatar=form.cleaned_data["avatar"],
                clear_avatar=form.cleaned_data["remove_avatar"],
            )
            if not request.htmx:
                return redirect("profile")
            saved = True
            form = ProfileForm(initial=_initial(request.user))
        else:
            status = 422
    else:
        form = ProfileForm(initial=_initial(request.user))
    template = "agents/profile.html#profile_form" if request.htmx else "agents/profile.html"
    context = {"form": form, "agent_profile": agent_profile, "saved": saved}
    return render(request, template, context, status=status)


def _initial(user) -> dict:
    return {"first_name": user.first_name, "last_name": user.last_name}
