"""The search page (/search/, region "Search"): see handoffs/search.py for what it finds.

Every agent reads every handoff (the inbox's rule), so every signed-in agent may search all
of them; a hit links to its conversation in the inbox.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from handoffs.search import MAX_QUERY_LENGTH, SearchQuery, search_handoffs
from hitlnext_project.shared.http import AuthenticatedHttpRequest
from hitlnext_project.shared.ids import parse_id


class SearchForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=MAX_QUERY_LENGTH,
        error_messages={
            "max_length": gettext_lazy(
                "Search for at most %(limit_value)d characters "
                "(this is %(show_value)d): a name, an email or a few words."
            )
        },
    )


@login_required
@require_GET
def search(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    context: dict = {"form": form, "query": None, "results": None}
    if not form.is_valid():
        return render(request, "handoffs/search.html", context, status=422)
    query = SearchQuery.parse(form.cleaned_data["q"])
    if query.text:
        context["query"] = query
        context["results"] = search_handoffs(query, page=parse_id(request.GET.get("page")) or 1)
    return render(request, "handoffs/search.html", context)
