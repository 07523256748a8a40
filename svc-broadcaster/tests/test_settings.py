"""BROADCASTER_START_AT takes a choice or a time, and a refused configuration never shows the
Telegram token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared_contracts.catalog import DeliverFrom
from shared_runtime.settings import InvalidSettings
from svc_broadcaster.settings import BroadcasterSettings

TOKEN = "123456789:AAE-secret-telegram-token"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in BroadcasterSettings.__struct_fields__:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.parametrize(
    ("start_at", "deliver_from"),
    [
        ("new", DeliverFrom.NEW),
        ("all", DeliverFrom.ALL),
        ("2026-11-30T08:00:00Z", datetime(2026, 11, 30, 8, tzinfo=UTC)),
        (
            "2026-11-30T09:00:00+01:00",
            datetime(2026, 11, 30, 9, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("2026-11-30", datetime(2026, 11, 30)),
        ("1796025600", datetime(2026, 11, 30, 8, tzinfo=UTC)),
    ],
)
def test_start_at_is_a_choice_or_a_time(
    monkeypatch: pytest.MonkeyPatch, start_at: str, deliver_from: DeliverFrom | datetime
) -> None:
    monkeypatch.setenv("BROADCASTER_START_AT", start_at)

    settings = BroadcasterSettings.from_environment()

    assert settings.consumer_options().deliver_from == deliver_from


def test_start_at_neither_a_choice_nor_a_time_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROADCASTER_START_AT", "yesterday")

    with pytest.raises(InvalidSettings, match=r"^BROADCASTER_START_AT: expected "):
        BroadcasterSettings.from_environment()


def test_an_incomplete_telegram_configuration_is_refused_without_its_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_FORMAT", "telegram")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)

    with pytest.raises(InvalidSettings) as refused:
        BroadcasterSettings.from_environment()

    assert str(refused.value) == "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are required for telegram"
    assert TOKEN not in repr(BroadcasterSettings.from_environment(telegram_chat_id="-1001234"))
