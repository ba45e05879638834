from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents.models import AgentProfile
from conversations.models import Bot, Conversation, EndUser, Message
from handoffs.models import Handoff, Label, MessageTemplate


class BotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bot
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"bot-{n}")
    webhook_url = ""

    @factory.post_generation
    def credentials(obj, create, extracted, **kwargs):
        # The plain key is kept on the instance for tests only; the database holds the hash.
        obj.api_key = obj.set_new_api_key()
        obj.set_new_webhook_secret()
        if create:
            obj.save()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"agent{n}")
    first_name = factory.Sequence(lambda n: f"Agent{n}")
    last_name = "Smith"
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def online(obj, create, extracted, **kwargs):
        obj.save()
        from django.conf import settings

        AgentProfile.objects.update_or_create(
            user=obj,
            defaults={
                "online": bool(extracted),
                "session_expires_at": timezone.now() + settings.HITLNEXT_AGENT_SESSION_TIMEOUT
                if extracted
                else None,
            },
        )


class EndUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EndUser

    bot = factory.SubFactory(BotFactory)
    external_id = factory.Sequence(lambda n: f"user-{n}")
    variables = factory.LazyFunction(lambda: {"fullName": "Ada Lovelace"})


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    bot = factory.SubFactory(BotFactory)
    end_user = factory.SubFactory(EndUserFactory, bot=factory.SelfAttribute("..bot"))
    external_id = factory.Sequence(lambda n: f"thread-{n}")
    channel = "web"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    direction = Message.Direction.INCOMING
    external_id = factory.Sequence(lambda n: f"m-{n}")
    text = factory.Sequence(lambda n: f"user message {n}")


class HandoffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Handoff

    conversation = factory.SubFactory(ConversationFactory)
    bot = factory.SelfAttribute("conversation.bot")
    language = "en"
    status = Handoff.Status.PENDING


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"label-{n}")


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageTemplate

    name = factory.Sequence(lambda n: f"template-{n}")
    text = "Hello {{user.fullName}}, I am {{agent.firstName}}."
