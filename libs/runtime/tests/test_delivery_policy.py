"""The one ack / nack / dead-letter policy every consumer follows, decided without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nats.js.api import DeliverPolicy

from shared_contracts.catalog import BROADCASTER, TODO_COMMANDS_CONSUMER, DeliverFrom
from shared_contracts.cloudevents import InvalidEvent
from shared_runtime.delivery import (
    Ack,
    Backoff,
    ConsumerOptions,
    DeadLetter,
    Nak,
    Reject,
    Retry,
    consumer_config,
    decide,
)

BACKOFF = Backoff(base_seconds=1.0, max_seconds=60.0)


def decision(result: str | BaseException, deliveries: int = 1) -> object:
    return decide(result, deliveries=deliveries, max_deliver=5, backoff=BACKOFF)


def test_a_handled_message_is_acked_with_the_handlers_outcome() -> None:
    assert decision("sent") == Ack("sent")


def test_a_rejected_message_is_dead_lettered_at_once_with_the_reason() -> None:
    assert decision(Reject("webhook answered 400")) == DeadLetter("webhook answered 400")


def test_a_message_that_is_no_cloudevent_is_dead_lettered_at_once() -> None:
    result = decision(InvalidEvent("missing CloudEvent attribute(s): id"))
    assert result == DeadLetter("undecodable event: missing CloudEvent attribute(s): id")


def test_a_retry_is_nacked_with_the_delay_the_handler_asks_for() -> None:
    assert decision(Retry("429", after_seconds=7.0, outcome="deferred")) == Nak(
        7.0, "429", "deferred"
    )


def test_a_requested_delay_is_capped_by_the_backoff_maximum() -> None:
    result = decision(Retry("429", after_seconds=3600.0))
    assert isinstance(result, Nak)
    assert result.delay_seconds == 60.0


@pytest.mark.parametrize("deliveries", [1, 2, 3, 4])
def test_a_retry_without_a_delay_backs_off_exponentially_with_jitter(deliveries: int) -> None:
    ceiling = min(60.0, 2.0 ** (deliveries - 1))
    result = decision(Retry("webhook answered 503"), deliveries)
    assert isinstance(result, Nak)
    assert ceiling / 2 <= result.delay_seconds <= ceiling
    assert result.outcome == "retried"


def test_an_unexpected_error_is_retried_as_if_temporary() -> None:
    result = decision(ConnectionError("database went away"))
    assert isinstance(result, Nak)
    assert result.reason == "handler failed: ConnectionError('database went away')"


def test_the_last_allowed_delivery_dead_letters_instead_of_retrying() -> None:
    result = decision(Retry("webhook answered 503"), deliveries=5)
    assert result == DeadLetter("gave up after 5 deliveries: webhook answered 503")


def test_backoff_never_exceeds_its_maximum() -> None:
    assert all(BACKOFF.delay(n) <= 60.0 for n in range(1, 40))


def test_the_server_allows_deliveries_beyond_the_services_own_for_a_failed_dead_letter() -> None:
    config = consumer_config(TODO_COMMANDS_CONSUMER, ConsumerOptions(max_deliver=7))
    assert config.max_deliver == 7 + TODO_COMMANDS_CONSUMER.DEAD_LETTER_HEADROOM
    assert config.durable_name == "todo-commands"
    assert config.filter_subject == "todos.commands.create"
    assert config.ack_wait == 30


def test_a_new_broadcaster_starts_at_new_events_unless_told_otherwise() -> None:
    assert BROADCASTER.deliver_from is DeliverFrom.NEW
    assert consumer_config(BROADCASTER, ConsumerOptions()).deliver_policy is DeliverPolicy.NEW
    replay_all = ConsumerOptions(deliver_from=DeliverFrom.ALL)
    assert consumer_config(BROADCASTER, replay_all).deliver_policy is DeliverPolicy.ALL
    since = datetime(2026, 11, 1, tzinfo=UTC)
    from_time = consumer_config(BROADCASTER, ConsumerOptions(deliver_from=since))
    assert from_time.deliver_policy is DeliverPolicy.BY_START_TIME
    assert from_time.opt_start_time == since


def test_max_ack_pending_leaves_room_for_every_handler() -> None:
    config = consumer_config(TODO_COMMANDS_CONSUMER, ConsumerOptions(concurrency=500))
    assert config.max_ack_pending == 500
    slow = consumer_config(TODO_COMMANDS_CONSUMER, ConsumerOptions(ack_wait=timedelta(minutes=2)))
    assert slow.ack_wait == 120
