"""The ops console for handoffs and what agents work with: labels, templates, system messages.

Handoffs are read-mostly: their state changes only through the services (the same functions
the API and the inbox call), never by editing a row here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy, ngettext

from handoffs import labels, services
from handoffs.errors import HandoffError
from handoffs.models import ConversationDeletion, Handoff, Label, MessageTemplate, SystemMessage
from handoffs.naming import display_user_name

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _LabelCounts(TypedDict):
    handoff_count: int


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "user_name",
        "conversation_link",
        "bot",
        "status",
        "agent",
        "label_names",
        "created_at",
    )
    list_display_links = ("id", "user_name")
    list_filter = (
        "status",
        "bot",
        "labels",
        ("agent", admin.RelatedOnlyFieldListFilter),
        "created_at",
    )
    list_select_related = ("bot", "agent", "conversation__end_user")
    search_fields = (
        "id__exact",
        "conversation__external_id",
        "conversation__end_user__external_id",
        "conversation__end_user__variables__fullName",
        "conversation__end_user__variables__email",
    )
    search_help_text = gettext_lazy(
        "#id for one handoff; else conversation id, user id, user name or email."
    )
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    fields = (
        "status",
        "bot",
        "conversation_link",
        "user_name",
        "agent",
        "language",
        "labels",
        "created_at",
        "assigned_at",
        "resolved_at",
        "closed_at",
        "expires_at",
        "timeout_seconds",
        "last_user_message",
        "last_activity_at",
    )
    # Everything but the labels: status, agent and timestamps belong to the state machine.
    readonly_fields = tuple(f for f in fields if f != "labels")
    actions = ["reject_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Handoff]:
        return super().get_queryset(request).prefetch_related("labels")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # handoffs are opened by bots, through the API

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # history; a conversation's messages are deleted by its own service

    def get_search_results(self, request, queryset, search_term):
        # "#42" is how the inbox shows a handoff: that handoff only, not every "42" in an id.
        if match := re.fullmatch(r"\s*#(\d+)\s*", search_term):
            return queryset.filter(pk=int(match.group(1))), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=gettext_lazy("user"), ordering="conversation__end_user__external_id")
    def user_name(self, handoff: Handoff) -> str:
        return display_user_name(handoff.conversation.end_user)

    @admin.display(description=gettext_lazy("Conversation"), ordering="conversation__external_id")
    def conversation_link(self, handoff: Handoff) -> str:
        conversation = handoff.conversation
        try:
            url = reverse("admin:conversations_conversation_change", args=[conversation.pk])
        except NoReverseMatch:  # the conversation admin is optional
            return conversation.external_id
        return format_html('<a href="{}">{}</a>', url, conversation.external_id)

    # Capitalised as the admin shows it: the catalogs' "labels" is a phrase of the reports.
    @admin.display(description=gettext_lazy("Labels"))
    def label_names(self, handoff: Handoff) -> str:
        return ", ".join(label.name for label in handoff.labels.all())

    def save_model(self, request, obj, form, change) -> None:
        # Nothing but labels is editable, and saving the whole row would overwrite a status
        # the state machine changed meanwhile: the labels go through the service below.
        pass

    def save_related(self, request, form, formsets, change) -> None:
        names = [label.name for label in form.cleaned_data["labels"]]
        labels.set_handoff_labels(handoff=form.instance, names=names)

    @admin.action(
        description=gettext_lazy("Reject selected handoffs (the bot takes the conversation back)")
    )
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Handoff]) -> None:
        rejected, refused = 0, []
        for handoff in queryset:
            try:
                services.reject_handoff(handoff=handoff)
                rejected += 1
            except HandoffError:
                refused.append(f"#{handoff.pk}")
        if rejected:
            self.message_user(
                request,
                ngettext("Rejected %(count)s handoff.", "Rejected %(count)s handoffs.", rejected)
                % {"count": rejected},
                messages.SUCCESS,
            )
        if refused:
            self.message_user(
                request,
                gettext("Not rejected (already finished): %(handoffs)s.")
                % {"handoffs": ", ".join(refused)},
                messages.WARNING,
            )


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name", "color", "handoff_count")
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Label]:
        return super().get_queryset(request).annotate(handoff_count=Count("handoffs"))

    @admin.display(description=gettext_lazy("Handoffs"), ordering="handoff_count")
    def handoff_count(self, label: WithAnnotations[Label, _LabelCounts]) -> int:
        return label.handoff_count

    # Renames and deletions change the labels of handoffs, which report it to the bot.
    def save_model(self, request, obj, form, change) -> None:
        labels.save_label(label=obj)

    def delete_model(self, request, obj) -> None:
        labels.delete_label(label=obj)

    def delete_queryset(self, request, queryset) -> None:
        for label in queryset:
            labels.delete_label(label=label)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "short_text")
    search_fields = ("name", "text")

    @admin.display(description=gettext_lazy("text"))
    def short_text(self, template: MessageTemplate) -> str:
        return template.text if len(template.text) <= 80 else template.text[:79] + "…"


@admin.register(SystemMessage)
class SystemMessageAdmin(admin.ModelAdmin):
    list_display = ("kind", "language", "text")
    list_filter = ("kind", "language")
    search_fields = ("text", "language")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.name == "text":
            field.help_text = gettext(
                "Write {{agentName}} where the agent's name goes (assign messages). Transfer "
                'messages may use {{queuePosition}} (1, 2…) and {{estimatedWait}} ("about 3 '
                'minutes"); a placeholder without a value takes its clause (between commas) or '
                "sentence with it. Sent in the user's language, else the bot's default "
                "language, else English. Any message may use {{fullName}} (the user's shown "
                "name) and {{user.<variable>}}."
            )
        if field is not None and db_field.name == "language":
            field.help_text = gettext("A language code as the bot sends it: en, fr, es, pt-BR…")
        return field


@admin.register(ConversationDeletion)
class ConversationDeletionAdmin(admin.ModelAdmin):
    """The audit trail: written by the deletion service only, never edited."""

    list_display = ("created_at", "bot_name", "conversation_ref", "deleted_by", "message_count")
    list_filter = ("bot_name", "created_at")
    list_select_related = ("deleted_by",)
    search_fields = ("conversation_ref", "bot_name", "deleted_by__username")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
