"""Each provider gets the body its API documents, and the message a person would expect."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from shared_contracts.catalog import TODO_CREATED, TODO_DELETED, TODO_UPDATED, Channel
from shared_contracts.cloudevents import CloudEvent
from shared_contracts.todos import Todo, TodoDeleted, TodoPrevious, TodoUpdated
from shared_runtime.settings import Secret
from shared_testkit.polling import eventually
from shared_testkit.webhook_sink import Reply, WebhookSink
from svc_broadcaster.events import announcement_for
from svc_broadcaster.formats import destination_for
from svc_broadcaster.ratelimit import TokenBucket
from svc_broadcaster.settings import BroadcasterSettings
from svc_broadcaster.webhook import Reject, Retry, Sent, Webhook, open_session

if TYPE_CHECKING:
    from conftest import Bus, Fleet

TOKEN = "123456789:AAE-secret-telegram-token"


async def send(settings: BroadcasterSettings, text: str) -> object:
    async with open_session(timeout_seconds=2, connections=1) as session:
        webhook = Webhook(destination_for(settings), session, TokenBucket(0, 1), "tests")
        return await webhook.send("event-1", text)


TODO_ID = uuid.uuid4()
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def todo(text: str, *, done: bool = False) -> Todo:
    return Todo(id=TODO_ID, text=text, done=done, created_at=NOW, updated_at=NOW)


def updated(text: str, *, done: bool, previous: TodoPrevious | None) -> TodoUpdated:
    return TodoUpdated(**msgspec.structs.asdict(todo(text, done=done)), previous=previous)


TRANSITIONS: dict[str, tuple[Channel, msgspec.Struct, str]] = {
    "created": (TODO_CREATED, todo("buy milk"), "A todo was created: buy milk"),
    "renamed": (
        TODO_UPDATED,
        updated("buy oat milk", done=False, previous=TodoPrevious(text="buy milk")),
        'A todo was renamed from "buy milk" to "buy oat milk"',
    ),
    "marked done": (
        TODO_UPDATED,
        updated("buy milk", done=True, previous=TodoPrevious(done=False)),
        "A todo was marked done: buy milk",
    ),
    "marked not done": (
        TODO_UPDATED,
        updated("buy milk", done=False, previous=TodoPrevious(done=True)),
        "A todo was marked not done: buy milk",
    ),
    "renamed while done": (
        TODO_UPDATED,
        updated("buy oat milk", done=True, previous=TodoPrevious(text="buy milk")),
        'A done todo was renamed from "buy milk" to "buy oat milk"',
    ),
    "renamed and marked done at once": (
        TODO_UPDATED,
        updated("buy oat milk", done=True, previous=TodoPrevious(text="buy milk", done=False)),
        'A todo was renamed from "buy milk" to "buy oat milk" and marked done',
    ),
    "deleted": (
        TODO_DELETED,
        TodoDeleted(id=TODO_ID, text="buy milk"),
        "A todo was deleted: buy milk",
    ),
    "updated, from before events said what changed": (
        TODO_UPDATED,
        todo("buy milk", done=True),
        "A todo was updated: buy milk (now done)",
    ),
    "deleted, from before events carried the text": (
        TODO_DELETED,
        TodoDeleted(id=TODO_ID),
        f"A todo was deleted (its text was not recorded; id {TODO_ID})",
    ),
}

CHAT_TEXT_FIELD = {"generic": "message", "slack": "text", "discord": "content", "telegram": "text"}


def settings_for(webhook_format: str, url: str) -> BroadcasterSettings:
    if webhook_format == "telegram":
        return BroadcasterSettings(
            webhook_format="telegram",
            telegram_api_url=url,
            telegram_bot_token=Secret(TOKEN),
            telegram_chat_id=Secret("-1001234"),
        )
    if webhook_format == "log":
        return BroadcasterSettings(webhook_format="log")
    return BroadcasterSettings(webhook_format=webhook_format, webhook_url=url)


@pytest.mark.parametrize("webhook_format", [*CHAT_TEXT_FIELD, "log"])
async def test_each_event_says_what_happened_to_which_todo_in_every_format(
    webhook_sink: WebhookSink, caplog: pytest.LogCaptureFixture, webhook_format: str
) -> None:
    caplog.set_level(logging.INFO)
    for channel, data, _ in TRANSITIONS.values():
        event = CloudEvent.new(channel.event_type, "/tests", data)
        announcement = announcement_for(event)
        settings = settings_for(webhook_format, webhook_sink.url)
        assert await send(settings, announcement.text) == Sent()

    if webhook_format == "log":
        shown: list[Any] = [r.chat_text for r in caplog.records if hasattr(r, "chat_text")]
    else:
        shown = [call.json()[CHAT_TEXT_FIELD[webhook_format]] for call in webhook_sink.received]
    assert dict(zip(TRANSITIONS, shown, strict=True)) == {
        transition: expected for transition, (_, _, expected) in TRANSITIONS.items()
    }


@pytest.mark.parametrize(
    ("webhook_format", "expected"),
    [
        ("generic", {"user": "bot", "message": "A todo was created: buy milk"}),
        ("slack", {"text": "A todo was created: buy milk", "mrkdwn": False}),
        (
            "discord",
            {"content": "A todo was created: buy milk", "allowed_mentions": {"parse": []}},
        ),
    ],
)
async def test_webhook_formats_post_the_documented_body(
    webhook_sink: WebhookSink, webhook_format: str, expected: dict[str, object]
) -> None:
    settings = BroadcasterSettings(webhook_format=webhook_format, webhook_url=webhook_sink.url)
    assert await send(settings, "A todo was created: buy milk") == Sent()
    [call] = webhook_sink.received
    assert call.json() == expected
    assert call.headers["content-type"] == "application/json"
    assert call.idempotency_key == "event-1"


async def test_slack_text_cannot_mention_the_channel(webhook_sink: WebhookSink) -> None:
    settings = BroadcasterSettings(webhook_format="slack", webhook_url=webhook_sink.url)
    await send(settings, "A todo was created: <!channel> & <https://x|y>")
    assert webhook_sink.received[0].json() == {
        "text": "A todo was created: &lt;!channel&gt; &amp; &lt;https://x|y&gt;",
        "mrkdwn": False,  # `*urgent*` shows with its stars, as typed
    }


async def test_discord_shows_markdown_in_todo_text_as_typed(webhook_sink: WebhookSink) -> None:
    settings = BroadcasterSettings(webhook_format="discord", webhook_url=webhook_sink.url)
    await send(settings, r"A todo was created: *urgent* _now_ [pay](https://x) # \o/")
    assert webhook_sink.received[0].json()["content"] == (
        r"A todo was created: \*urgent\* \_now\_ \[pay\](https://x) \# \\o/"
    )


async def test_discord_content_is_cut_to_its_2000_character_limit(
    webhook_sink: WebhookSink,
) -> None:
    settings = BroadcasterSettings(webhook_format="discord", webhook_url=webhook_sink.url)
    await send(settings, "x" * 2500)
    assert len(webhook_sink.received[0].json()["content"]) == 2000


async def test_telegram_calls_send_message_with_chat_id_and_plain_text(
    webhook_sink: WebhookSink,
) -> None:
    settings = BroadcasterSettings(
        webhook_format="telegram",
        telegram_api_url=webhook_sink.url,
        telegram_bot_token=Secret(TOKEN),
        telegram_chat_id=Secret("-1001234"),
    )
    assert await send(settings, "A todo was marked done: walk") == Sent()
    [call] = webhook_sink.received
    assert call.path == f"/bot{TOKEN}/sendMessage"
    assert call.json() == {"chat_id": "-1001234", "text": "A todo was marked done: walk"}


async def test_log_format_only_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert await send(BroadcasterSettings(webhook_format="log"), "A todo was deleted: 42") == Sent()
    assert [r.chat_text for r in caplog.records if hasattr(r, "chat_text")] == [
        "A todo was deleted: 42"
    ]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(503), Retry("webhook answered 503")),
        (Reply(429, {"Retry-After": "7"}), Retry("webhook answered 429 (rate limited)", 7.0)),
        (
            Reply(429, body=b'{"ok":false,"parameters":{"retry_after":3}}'),
            Retry("webhook answered 429 (rate limited)", 3.0),
        ),
        (Reply(404, body=b"no_service"), Reject("webhook answered 404: no_service")),
    ],
)
async def test_failures_are_classified_as_retry_or_reject(
    webhook_sink: WebhookSink, reply: Reply, expected: object
) -> None:
    webhook_sink.answer(reply)
    settings = BroadcasterSettings(webhook_format="generic", webhook_url=webhook_sink.url)
    assert await send(settings, "hello") == expected


def test_incomplete_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_URL is required"):
        BroadcasterSettings(webhook_format="slack")
    with pytest.raises(ValueError, match="TELEGRAM_BOT_TOKEN"):
        BroadcasterSettings(webhook_format="telegram", telegram_bot_token=Secret(TOKEN))
    with pytest.raises(ValueError, match="longer than WEBHOOK_TIMEOUT_SECONDS"):
        BroadcasterSettings(webhook_timeout_seconds=30, broadcaster_ack_wait_seconds=10)


async def test_telegram_token_never_reaches_logs_metrics_or_dead_letters(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    """A broken chat id makes Telegram answer 400; the token still shows up nowhere but the URL."""
    webhook_sink.answer_with(
        lambda path, headers, body: (
            Reply(400, body=b'{"ok":false,"description":"Bad Request: chat not found"}')
            if b"deleted" in body
            else Reply(200)
        )
    )
    replica = fleet.start(
        WEBHOOK_FORMAT="telegram",
        TELEGRAM_API_URL=webhook_sink.url,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_CHAT_ID="42",
        LOG_LEVEL="DEBUG",
    )
    await fleet.ready(replica)
    await bus.created("water the plants")
    deleted = await bus.deleted()

    async def both_handled() -> bool:
        return len(webhook_sink.received) == 2 and len(await bus.dead_letters()) == 1

    await eventually(both_handled, timeout=20)
    [letter] = await bus.dead_letters()
    assert letter.headers["ce-id"] == deleted.id
    assert "chat not found" in letter.headers["dlq-reason"]
    assert all(call.path == f"/bot{TOKEN}/sendMessage" for call in webhook_sink.received)
    for place in (replica.output, await replica.metrics(), str(letter.headers)):
        assert TOKEN not in place
        assert TOKEN.split(":")[1] not in place
