"""CSAT: a resolved handoff is rated once (1-5, an optional comment) through one service, by
the bot API or the web chat; handoff.rated goes out with it; the conversation page shows it;
the reports read csat_summary."""

from __future__ import annotations

import pytest
from django.db import IntegrityError
from django.test import Client

from handoffs import services
from handoffs.errors import HandoffError, IllegalTransition
from handoffs.labels import set_handoff_labels
from handoffs.models import Handoff, Rating
from handoffs.ratings import AlreadyRated, csat_summary, rate_handoff
from tests.api_support import BotApi, assert_error
from tests.factories import HandoffFactory, LabelFactory
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db
Status = Handoff.Status


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


def resolved_handoff(bot, agent, n: int = 1) -> Handoff:
    handoff, _ = services.start_handoff(
        bot=bot, conversation_id=f"th-{n}", user_id=f"u-{n}", channel="whatsapp"
    )
    services.assign_handoff(handoff=handoff, agent=agent)
    return services.resolve_handoff(handoff=handoff, agent=agent)


@pytest.fixture
def resolved(bot, agent):
    return resolved_handoff(bot, agent)


def rated_events(handoff: Handoff) -> list[Event]:
    return list(Event.objects.filter(type="handoff.rated", data__handoff__id=handoff.pk))


# --- the service ---------------------------------------------------------------------------


def test_a_resolved_handoff_is_rated_and_handoff_rated_recorded_with_it(resolved, bot):
    rating = rate_handoff(handoff=resolved, score=4, comment="  Helpful.  ", source="bot")

    assert (rating.handoff, rating.score, rating.comment, rating.source) == (
        resolved,
        4,
        "Helpful.",
        "bot",
    )
    (event,) = rated_events(resolved)
    assert event.bot == bot and event.conversation_id == resolved.conversation_id
    assert event.data["handoff"]["status"] == "resolved"
    assert event.data["rating"] == {
        "score": 4,
        "comment": "Helpful.",
        "source": "bot",
        "created_at": rating.created_at.isoformat().replace("+00:00", "Z"),
    }
    # A bot with a webhook URL gets it like any event.
    assert Delivery.objects.filter(event=event).exists() == bool(bot.webhook_url)


def test_a_handoff_is_rated_once(resolved):
    rate_handoff(handoff=resolved, score=5, source="webchat")

    with pytest.raises(AlreadyRated, match=f"#{resolved.pk} was already rated"):
        rate_handoff(handoff=resolved, score=1, comment="changed my mind", source="bot")

    assert Rating.objects.get().score == 5
    assert len(rated_events(resolved)) == 1


@pytest.mark.parametrize(
    "status", [Status.PENDING, Status.ASSIGNED, Status.REJECTED, Status.EXPIRED]
)
def test_only_a_resolved_handoff_can_be_rated(bot, agent, status):
    handoff = HandoffFactory(conversation__bot=bot, status=status, agent=agent)

    with pytest.raises(IllegalTransition, match=f"is {status}: it cannot be rated"):
        rate_handoff(handoff=handoff, score=3, source="bot")

    assert not Rating.objects.exists() and not rated_events(handoff)


def test_the_status_is_read_under_the_lock_not_from_the_callers_copy(resolved):
    stale = Handoff.objects.get(pk=resolved.pk)
    stale.status = Status.ASSIGNED  # what the caller saw: the service reads it again

    assert rate_handoff(handoff=stale, score=2, source="bot").score == 2


@pytest.mark.parametrize(
    ("score", "comment"), [(0, ""), (6, ""), (True, ""), (4.0, ""), ("5", ""), (3, "x" * 1001)]
)
def test_invalid_values_never_reach_the_database(resolved, score, comment):
    with pytest.raises(ValueError):
        rate_handoff(handoff=resolved, score=score, comment=comment, source="bot")

    assert not Rating.objects.exists()


def test_an_unknown_source_is_refused(resolved):
    with pytest.raises(ValueError):
        rate_handoff(handoff=resolved, score=3, source="email")  # type: ignore[arg-type]


def test_the_database_refuses_a_second_rating(resolved):
    Rating.objects.create(handoff=resolved, score=3, source="bot")
    with pytest.raises(IntegrityError):
        Rating.objects.create(handoff=resolved, score=4, source="bot")


def test_the_database_refuses_a_score_out_of_range(resolved):
    with pytest.raises(IntegrityError):
        Rating.objects.create(handoff=resolved, score=9, source="bot")


def test_the_refusals_are_handoff_errors_the_entry_points_map():
    assert issubclass(AlreadyRated, HandoffError) and issubclass(IllegalTransition, HandoffError)


# --- the bot API -----------------------------------------------------------------------------


def test_the_bot_rates_its_resolved_handoff(api, resolved):
    response = api.post(f"/handoffs/{resolved.pk}/rating", {"score": 5, "comment": "Great"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"score", "comment", "source", "created_at"}
    assert (body["score"], body["comment"], body["source"]) == (5, "Great", "bot")
    assert body["created_at"].endswith("Z")
    assert rated_events(resolved)[0].data["rating"] == body


def test_the_comment_is_optional(api, resolved):
    response = api.post(f"/handoffs/{resolved.pk}/rating", {"score": 3})

    assert response.status_code == 201 and response.json()["comment"] == ""


def test_the_api_refuses_a_handoff_that_is_not_resolved_with_409(api, bot):
    pending = api.post(
        "/handoffs", {"conversation_id": "th-9", "user_id": "u-9", "channel": "web"}
    ).json()

    body = assert_error(api.post(f"/handoffs/{pending['id']}/rating", {"score": 4}), 409)

    assert body["detail"] == f"Handoff #{pending['id']} is pending: it cannot be rated."
    assert not Rating.objects.exists()


def test_the_api_refuses_a_second_rating_with_409(api, resolved):
    assert api.post(f"/handoffs/{resolved.pk}/rating", {"score": 2}).status_code == 201

    body = assert_error(api.post(f"/handoffs/{resolved.pk}/rating", {"score": 5}), 409)

    assert "already rated" in body["detail"]
    assert Rating.objects.get().score == 2


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"score": 0}, "score", "Must be 1 or more."),
        ({"score": 6}, "score", "Must be 5 or less."),
        ({"score": "great"}, "score", "Must be a whole number."),
        ({"score": 4.5}, "score", "Must be a whole number."),
        ({}, "score", "Required."),
        ({"score": 4, "comment": "x" * 1001}, "comment", "Must be at most 1000 characters."),
        ({"score": 4, "comment": ["x"]}, "comment", "Must be a string."),
        ({"score": 4, "stars": 4}, "stars", "Unknown field; this object takes: score, comment."),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api, resolved, body, field, message):
    response = api.post(f"/handoffs/{resolved.pk}/rating", body)

    error = assert_error(response, 422, field)
    assert error["errors"][0]["message"] == message
    assert not Rating.objects.exists()


def test_the_rating_replays_for_the_same_idempotency_key(api, resolved):
    key = {"Idempotency-Key": "rate-once"}
    first = api.post(f"/handoffs/{resolved.pk}/rating", {"score": 4}, headers=key)
    again = api.post(f"/handoffs/{resolved.pk}/rating", {"score": 4}, headers=key)
    other = api.post(f"/handoffs/{resolved.pk}/rating", {"score": 1}, headers=key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert_error(other, 409, "Idempotency-Key")
    assert Rating.objects.count() == 1 and len(rated_events(resolved)) == 1


def test_another_bots_handoff_is_404_and_stays_unrated(client, api, other_bot, agent):
    theirs = resolved_handoff(other_bot, agent)

    assert_error(api.post(f"/handoffs/{theirs.pk}/rating", {"score": 4}), 404)
    assert_error(api.post("/handoffs/999999/rating", {"score": 4}), 404)
    assert_error(BotApi(client, None).post(f"/handoffs/{theirs.pk}/rating", {"score": 4}), 401)
    assert not Rating.objects.exists()


def test_the_rating_only_takes_post(api, resolved):
    response = api.get(f"/handoffs/{resolved.pk}/rating")

    assert response.status_code == 405


# --- the conversation page --------------------------------------------------------------------


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_conversation_page_shows_the_conversations_ratings_escaped(bot, agent, resolved):
    rate_handoff(handoff=resolved, score=2, comment="<script>alert(1)</script>\nslow", source="bot")
    later, _ = services.start_handoff(
        bot=bot, conversation_id="th-1", user_id="u-1", channel="whatsapp"
    )

    html = logged_in(agent).get(f"/handoffs/{later.pk}/").content.decode()

    section = html.split(f'id="conversation-{later.conversation_id}-ratings"')[1].split(
        "</section>"
    )[0]
    assert "hidden" not in section.split(">")[0]
    assert "★★☆☆☆" in section and "2 / 5" in section and f">#{resolved.pk}</a>" in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>slow" in section
    assert "<script>alert" not in html


def test_a_conversation_without_ratings_has_the_section_hidden(agent, resolved):
    html = logged_in(agent).get(f"/handoffs/{resolved.pk}/contact/").content.decode()

    assert f'id="conversation-{resolved.conversation_id}-ratings"' in html
    opening = html.split(f'id="conversation-{resolved.conversation_id}-ratings"')[1]
    assert opening.split(">")[0].endswith(" hidden")


# --- reports: csat_summary -----------------------------------------------------------------


def test_csat_summary_counts_resolved_rated_and_averages(bot, agent):
    handoffs = [resolved_handoff(bot, agent, n) for n in range(4)]
    for handoff, score in zip(handoffs, (5, 4, 2), strict=False):
        rate_handoff(handoff=handoff, score=score, source="bot")
    HandoffFactory(conversation__bot=bot)  # pending: neither resolved nor rated
    HandoffFactory(conversation__bot=bot, status=Status.EXPIRED)

    summary = csat_summary(Handoff.objects.all())

    assert summary == {
        "average": pytest.approx(11 / 3),
        "responses": 3,
        "resolved": 4,
        "response_rate": 0.75,
    }


def test_csat_summary_of_nothing_has_no_average_and_no_rate(bot):
    HandoffFactory(conversation__bot=bot)

    assert csat_summary(Handoff.objects.all()) == {
        "average": None,
        "responses": 0,
        "resolved": 0,
        "response_rate": None,
    }
    assert csat_summary(Handoff.objects.none())["resolved"] == 0


def test_csat_summary_follows_the_queryset_it_is_given(bot, agent, django_assert_num_queries):
    shipping = LabelFactory(name="shipping")
    first, second = resolved_handoff(bot, agent, 1), resolved_handoff(bot, agent, 2)
    set_handoff_labels(handoff=first, names=["shipping"])
    rate_handoff(handoff=first, score=1, source="bot")
    rate_handoff(handoff=second, score=5, source="bot")

    with django_assert_num_queries(1):
        labelled = csat_summary(Handoff.objects.filter(labels=shipping))

    assert labelled == {"average": 1.0, "responses": 1, "resolved": 1, "response_rate": 1.0}
    assert csat_summary(Handoff.objects.filter(pk=second.pk))["average"] == 5.0
