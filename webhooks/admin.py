"""The ops console for the outbox: events and their webhook deliveries ("Retry now")."""

from __future__ import annotations

from datetime import datetime

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy, ngettext

from hitlnext_project.shared.admin import ReadOnlyAdmin
from webhooks.delivery import retry_deliveries
from webhooks.models import Delivery, Event


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "event_type",
        "bot",
        "conversation_ref",
        "state",
        "attempts",
        "last_status_code",
        "next_try",
        "delivered_at",
    )
    list_filter = ("status", "bot")
    search_fields = ("event__public_id",)
    list_select_related = ("event", "bot", "conversation")
    readonly_fields = (
        "event_link",
        "bot",
        "conversation",
        "state",
        "attempts",
        "next_try",
        "leased_until",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
    )
    fields = readonly_fields
    actions = ("retry_now",)

    @admin.display(description=gettext_lazy("event type"), ordering="event__type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.type

    @admin.display(description=gettext_lazy("Conversation"), ordering="conversation__external_id")
    def conversation_ref(self, obj: Delivery) -> str:
        return obj.conversation.external_id if obj.conversation else "—"

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def state(self, obj: Delivery) -> str:
        # A leased delivery is being attempted right now: "Pending" with the lease's end as
        # its next try would say it waits, and invite a second attempt.
        return gettext("Sending") if obj.in_flight() else obj.get_status_display()

    @admin.display(description=gettext_lazy("next try"), ordering="next_attempt_at")
    def next_try(self, obj: Delivery) -> datetime | None:
        # Only a pending delivery not in flight has a next try.
        if obj.status != Delivery.Status.PENDING or obj.in_flight():
            return None
        return obj.next_attempt_at

    @admin.display(description=gettext_lazy("event"))
    def event_link(self, obj: Delivery) -> str:
        return str(obj.event)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.change_delivery")

    @admin.action(description=gettext_lazy("Retry now"), permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        retried = retry_deliveries(deliveries=queryset)
        if retried.sent:
            failed = retried.sent - retried.delivered
            counts = {"count": retried.sent, "delivered": retried.delivered, "failed": failed}
            if failed:
                text = ngettext(
                    "%(count)s delivery sent now: %(delivered)s delivered, %(failed)s failed "
                    "(see its last error).",
                    "%(count)s deliveries sent now: %(delivered)s delivered, %(failed)s failed "
                    "(see its last error).",
                    retried.sent,
                )
            else:
                text = ngettext(
                    "%(count)s delivery sent now: %(delivered)s delivered.",
                    "%(count)s deliveries sent now: %(delivered)s delivered.",
                    retried.sent,
                )
            self.message_user(
                request, text % counts, messages.SUCCESS if not failed else messages.WARNING
            )
        if retried.queued:
            self.message_user(
                request,
                ngettext(
                    "%(count)s delivery queued to be sent now by the worker (after any earlier "
                    "delivery of the same conversation).",
                    "%(count)s deliveries queued to be sent now by the worker (after any earlier "
                    "delivery of the same conversation).",
                    retried.queued,
                )
                % {"count": retried.queued},
            )
        if retried.in_flight:
            self.message_user(
                request,
                ngettext(
                    "%(count)s delivery already being sent: left alone, not sent twice.",
                    "%(count)s deliveries already being sent: left alone, not sent twice.",
                    retried.in_flight,
                )
                % {"count": retried.in_flight},
                messages.WARNING,
            )
        disabled = queryset.filter(bot__webhook_enabled=False).values_list("bot__name", flat=True)
        for name in sorted(set(disabled)):
            self.message_user(
                request,
                gettext(
                    "The webhook endpoint of “%(bot)s” is disabled: its deliveries wait until it "
                    "is enabled again."
                )
                % {"bot": name},
                messages.WARNING,
            )


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "type", "bot", "conversation", "created_at", "delivery_status")
    list_filter = ("type", "bot")
    search_fields = ("public_id",)
    list_select_related = ("bot", "conversation__bot", "delivery")
    fields = ("public_id", "type", "bot", "conversation", "created_at", "data")
    readonly_fields = fields

    @admin.display(description=gettext_lazy("delivery"))
    def delivery_status(self, obj: Event) -> str:
        try:
            delivery = obj.delivery
        except Delivery.DoesNotExist:
            return "—"
        return gettext("Sending") if delivery.in_flight() else delivery.get_status_display()
