from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from agents import live
from agents.forms import ProfileForm
from agents.models import AgentProfile
from agents.services import profile_for, set_online, update_profile
from agents.throttle import ThrottledAuthenticationForm, throttle_login
from hitlnext_project.shared.http import AuthenticatedHttpRequest

# Django's login, with failures budgeted per username and address (agents/throttle.py, the one
# mechanism the admin's login uses too). Once a budget is spent the attempt is refused with 429
# before the password is checked, the right one too, alike whether the username exists or not.
login_view = sensitive_post_parameters()(
    never_cache(
        throttle_login(
            auth_views.LoginView.as_view(
                template_name="agents/login.html",
                authentication_form=ThrottledAuthenticationForm,
                redirect_authenticated_user=True,
            )
        )
    )
)


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
def presence(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The header's "Online" switch: the response is the switch in its new state."""
    online = request.POST.get("online") == "true"
    profile = set_online(agent=request.user, online=online)
    return render(request, "agents/presence.html#switch", {"my_profile": profile})


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    agent_profile = profile_for(request.user)
    saved = False
    status = 200
    if request.method == "POST":
        form = ProfileForm(request.POST, request.FILES)
        if form.is_valid():
            language_before = agent_profile.interface_language
            agent_profile = update_profile(
                agent=request.user,
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                avatar=form.cleaned_data["avatar"],
                clear_avatar=form.cleaned_data["remove_avatar"],
                browser_notifications=form.cleaned_data["browser_notifications"],
                play_sound=form.cleaned_data["play_sound"],
                interface_language=form.cleaned_data["language"] or None,
            )
            if not request.htmx:
                return redirect("profile")
            chosen = agent_profile.interface_language
            if chosen != language_before and chosen != translation.get_language():
                # Every word of the page changes, its header and scripts' too: reload it.
                return HttpResponseClientRefresh()
            saved = True
            form = ProfileForm(initial=_initial(request.user, agent_profile))
        else:
            status = 422
    else:
        form = ProfileForm(initial=_initial(request.user, agent_profile))
    template = "agents/profile.html#profile_form" if request.htmx else "agents/profile.html"
    context = {
        "form": form,
        "agent_profile": agent_profile,
        "saved": saved,
        "alert_fields": ("browser_notifications", "play_sound"),
    }
    return render(request, template, context, status=status)


def _initial(user: User, agent_profile: AgentProfile) -> dict:
    return {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "browser_notifications": agent_profile.browser_notifications,
        "play_sound": agent_profile.play_sound,
        # Until the agent chooses, the select shows the language the page is in: the browser's.
        "language": agent_profile.interface_language or translation.get_language(),
    }
