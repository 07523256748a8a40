"""Each provider gets the body its API documents, and the message a person would expect."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from shared_testkit.polling import eventually
from shared_testkit.webhook_sink import Reply, WebhookSink
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


@pytest.mark.parametrize(
    ("webhook_format", "expected"),
    [
        ("generic", {"user": "bot", "message": "A todo was created: buy milk"}),
        ("slack", {"text": "A todo was created: buy milk"}),
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
        "text": "A todo was created: &lt;!channel&gt; &amp; &lt;https://x|y&gt;"
    }


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
        telegram_bot_token=TOKEN,
        telegram_chat_id="-1001234",
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
        BroadcasterSettings(webhook_format="telegram", telegram_bot_token=TOKEN)
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
