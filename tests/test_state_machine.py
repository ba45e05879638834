"""Property-based check of the handoff state machine: any sequence of create, relay, assign,
resolve, reject, expire and label changes keeps the invariants."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from handoffs import labels, services
from handoffs.errors import REFUSALS
from handoffs.messaging import relay_message
from handoffs.models import Handoff, Label
from tests.factories import BotFactory, LabelFactory, UserFactory
from webhooks.models import Event

TERMINAL = set(Handoff.TERMINAL)
CONVERSATIONS = ["th-a", "th-b", "th-c"]


class HandoffMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # Each example runs in a savepoint of the test's transaction and is rolled back.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.bot = BotFactory()
        self.agents = [
            UserFactory(online=True),
            UserFactory(online=True),
            UserFactory(online=False),
        ]
        LabelFactory(name="vip")
        LabelFactory(name="billing")
        self.seen_status: dict[int, str] = {}
        self.expected_events: Counter[tuple[int, str]] = Counter()
        self.message_counter = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    def _handoffs(self) -> list[Handoff]:
        return list(Handoff.objects.filter(bot=self.bot).order_by("pk"))

    def _pick(self, index: int) -> Handoff | None:
        handoffs = self._handoffs()
        return handoffs[index % len(handoffs)] if handoffs else None

    @rule(conv=st.sampled_from(CONVERSATIONS), timeout=st.sampled_from([0, 30]))
    def create(self, conv: str, timeout: int) -> None:
        handoff, created = services.start_handoff(
            bot=self.bot,
            conversation_id=conv,
            user_id=f"user-{conv}",
            channel="web",
            timeout_seconds=timeout,
        )
        if created:
            self.expected_events[(handoff.pk, "handoff.created")] += 1
        else:
            assert handoff.status in Handoff.ACTIVE

    @rule(conv=st.sampled_from(CONVERSATIONS))
    def relay(self, conv: str) -> None:
        self.message_counter += 1
        result = relay_message(
            bot=self.bot,
            conversation_id=conv,
            user_id=f"user-{conv}",
            channel="web",
            external_id=f"m{self.message_counter}",
            direction="incoming",
            text="hello",
        )
        assert result.created
        if result.handoff is not None:
            assert result.handoff.status in Handoff.ACTIVE

    def _attempt(self, index: int, event: str, legal, action) -> None:
        """Run an action and check the service accepted exactly what the model allows."""
        handoff = self._pick(index)
        if handoff is None:
            return
        before = handoff.status
        allowed = legal(handoff)
        try:
            action(handoff)
        except REFUSALS:
            assert not allowed, f"{event} refused from {before}"
            handoff.refresh_from_db()
            assert handoff.status == before
            return
        assert allowed, f"{event} accepted from {before}"
        self.expected_events[(handoff.pk, event)] += 1

    @rule(index=st.integers(0, 20), who=st.integers(0, 2))
    def assign(self, index: int, who: int) -> None:
        agent = self.agents[who]
        self._attempt(
            index,
            "handoff.assigned",
            lambda h: h.status == "pending" and agent.agent_profile.online,
            lambda h: services.assign_handoff(handoff=h, agent=agent),
        )

    @rule(index=st.integers(0, 20), who=st.integers(0, 2))
    def resolve(self, index: int, who: int) -> None:
        agent = self.agents[who]
        self._attempt(
            index,
            "handoff.resolved",
            lambda h: h.status == "assigned" and h.agent_id == agent.pk,
            lambda h: services.resolve_handoff(handoff=h, agent=agent),
        )

    @rule(index=st.integers(0, 20))
    def reject(self, index: int) -> None:
        self._attempt(
            index,
            "handoff.rejected",
            lambda h: h.status in Handoff.ACTIVE,
            lambda h: services.reject_handoff(handoff=h),
        )

    @rule(index=st.integers(0, 20), names=st.sets(st.sampled_from(["vip", "billing"])))
    def label(self, index: int, names: set[str]) -> None:
        handoff = self._pick(index)
        if handoff is None:
            return
        before = set(handoff.labels.values_list("name", flat=True))
        labels.set_handoff_labels(handoff=handoff, names=names)
        if before != names:
            self.expected_events[(handoff.pk, "handoff.updated")] += 1

    @rule()
    def time_passes(self) -> None:
        later = timezone.now() + timedelta(seconds=31)
        due = set(
            Handoff.objects.filter(
                bot=self.bot, status="pending", expires_at__lte=later
            ).values_list("pk", flat=True)
        )
        assert services.expire_due_handoffs(now=later) == len(due)
        for pk in due:
            self.expected_events[(pk, "handoff.expired")] += 1

    @invariant()
    def one_active_handoff_per_conversation(self) -> None:
        active = Counter(
            Handoff.objects.filter(bot=self.bot, status__in=Handoff.ACTIVE).values_list(
                "conversation_id", flat=True
            )
        )
        assert all(count == 1 for count in active.values())

    @invariant()
    def terminal_states_stay_terminal(self) -> None:
        for handoff in self._handoffs():
            before = self.seen_status.get(handoff.pk)
            if before in TERMINAL:
                assert handoff.status == before
            if handoff.status == Handoff.Status.ASSIGNED:
                assert handoff.agent_id is not None
            self.seen_status[handoff.pk] = handoff.status

    @invariant()
    def every_change_has_exactly_one_event(self) -> None:
        actual = Counter(
            (event.data["handoff"]["id"], event.type)
            for event in Event.objects.filter(bot=self.bot, type__startswith="handoff.")
        )
        assert actual == self.expected_events


@pytest.mark.django_db
def test_any_sequence_of_operations_keeps_the_invariants():
    assert Label.objects.count() == 0
    run_state_machine_as_test(
        HandoffMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
