"""The ops console for bots, their users, conversations and messages.

Credentials are shown once, in a message right after they are made (creation or rotation);
no page displays them afterwards, because only a hash (API key) or nothing (secret) shows.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_lazy

from conversations.models import Bot, Conversation, EndUser, Message
from conversations.webhook_urls import MASK, redact_url, unredact_url
from hitlnext_project.shared.admin import ReadOnlyAdmin


def _show_once(request: HttpRequest, bot: Bot, what: str, value: str) -> None:
    # format_html() with a translated sentence: the sentence is ours, its values are escaped.
    text = gettext("%(what)s of “%(bot)s”: %(value)s — copy it now, it will not be shown again.")
    messages.warning(
        request,
        mark_safe(  # every value below is escaped
            text
            % {
                "what": conditional_escape(what),
                "bot": conditional_escape(bot.name),
                "value": format_html("<code>{}</code>", value),
            }
        ),
    )


class BotForm(forms.ModelForm):
    """The webhook URL is shown with its credentials masked; leaving the mask in place keeps
    the stored credentials, so they are never sent back to a browser."""

    # A bare host means HTTPS, as in Django 6.
    webhook_url = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = Bot
        fields = ("name", "webhook_url", "webhook_enabled", "default_language", "is_webchat")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.webhook_url:
            self.initial["webhook_url"] = redact_url(self.instance.webhook_url)
        if "webhook_url" in self.fields:
            self.fields["webhook_url"].help_text = gettext(
                "http(s) only. Credentials in it (user:password@, ?token=) are kept but "
                "shown as %(mask)s; leave %(mask)s as is to keep them."
            ) % {"mask": MASK}

    def clean_webhook_url(self) -> str:
        # The instance still holds the stored URL here (the form's values reach it after the
        # clean_* methods); the model's validators then run on the restored URL.
        return unredact_url(self.cleaned_data["webhook_url"], previous=self.instance.webhook_url)


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    form = BotForm
    list_display = (
        "name",
        "webhook_endpoint",
        "webhook_enabled",
        "default_language",
        "is_webchat",
        "api_key_hint",
    )
    list_filter = ("webhook_enabled", "is_webchat")
    search_fields = ("name", "webhook_url")
    fields = (
        "name",
        "webhook_url",
        "webhook_enabled",
        "default_language",
        "is_webchat",
        "api_key_hint",
        "created_at",
    )
    readonly_fields = ("api_key_hint", "created_at")
    actions = ("rotate_api_key", "rotate_webhook_secret")

    @admin.display(description=gettext_lazy("webhook URL"), ordering="webhook_url")
    def webhook_endpoint(self, obj: Bot) -> str:
        return redact_url(obj.webhook_url)

    def save_model(self, request: HttpRequest, obj: Bot, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        api_key = obj.set_new_api_key()
        secret = obj.set_new_webhook_secret()
        super().save_model(request, obj, form, change)
        _show_once(request, obj, gettext("API key"), api_key)
        _show_once(request, obj, gettext("Webhook secret"), secret)

    @admin.action(description=gettext_lazy("Rotate API key"), permissions=["change"])
    def rotate_api_key(self, request: HttpRequest, queryset: QuerySet[Bot]) -> None:
        # The old key stops working at once: the bot must be given the new one.
        for bot in queryset:
            key = bot.set_new_api_key()
            bot.save(update_fields=["api_key_hash", "api_key_hint"])
            _show_once(request, bot, gettext("New API key"), key)

    @admin.action(description=gettext_lazy("Rotate webhook secret"), permissions=["change"])
    def rotate_webhook_secret(self, request: HttpRequest, queryset: QuerySet[Bot]) -> None:
        # Every later attempt, retries included, is signed with the new secret.
        for bot in queryset:
            secret = bot.set_new_webhook_secret()
            bot.save(update_fields=["webhook_secret"])
            _show_once(request, bot, gettext("New webhook secret"), secret)


@admin.register(EndUser)
class EndUserAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "full_name", "bot", "created_at")
    list_filter = ("bot",)
    search_fields = ("external_id", "variables")
    list_select_related = ("bot",)
    fields = ("bot", "external_id", "variables", "created_at", "updated_at")
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "bot", "end_user", "channel", "created_at", "last_message_at")
    list_filter = ("bot", "channel")
    search_fields = ("external_id", "end_user__external_id")
    list_select_related = ("bot", "end_user")
    fields = ("bot", "external_id", "end_user", "channel", "created_at", "last_message_at")
    readonly_fields = fields


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "conversation_ref", "direction", "short_text", "author", "created_at")
    list_filter = ("direction", "conversation__bot")
    search_fields = ("text", "external_id", "conversation__external_id")
    list_select_related = ("conversation", "author")
    fields = (
        "conversation",
        "handoff",
        "external_id",
        "direction",
        "author",
        "text",
        "payload",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=gettext_lazy("Conversation"), ordering="conversation__external_id")
    def conversation_ref(self, obj: Message) -> str:
        return obj.conversation.external_id

    @admin.display(description=gettext_lazy("text"))
    def short_text(self, obj: Message) -> str:
        return obj.text[:80]
