"""Where a chat message goes and the request body each provider documents.

- generic: `{"user": "bot", "message": text}`.
- slack (incoming webhook): `{"text": text, "mrkdwn": false}`; `&`, `<`, `>` escaped as Slack
  asks, so todo text cannot smuggle `<!channel>` mentions or links, and shows as typed (no bold).
- discord (execute webhook): `{"content": text, "allowed_mentions": {"parse": []}}`; content is at
  most 2000 characters, no todo text may ping `@everyone`, and Markdown characters are escaped so
  `*urgent*` or `[a](link)` show as typed.
- telegram (Bot API `sendMessage`): `{"chat_id": id, "text": text}` POSTed to
  `<api>/bot<token>/sendMessage`, plain text (no parse_mode), at most 4096 characters.
- log: no request; the message is only logged (staging).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from svc_broadcaster.settings import BroadcasterSettings

DISCORD_MAX_CHARACTERS = 2000
DISCORD_MARKDOWN = re.compile(r"([\\*_~`|<>#\[\]])")
TELEGRAM_MAX_CHARACTERS = 4096

Payload = dict[str, Any]


@dataclass(frozen=True)
class Destination:
    """A provider's URL and body shape; `secrets` are scrubbed from anything we log or record."""

    format: str
    url: str | None
    payload: Callable[[str], Payload]
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def generic_payload(text: str) -> Payload:
    return {"user": "bot", "message": text}


def slack_payload(text: str) -> Payload:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"text": escaped, "mrkdwn": False}


def discord_payload(text: str) -> Payload:
    escaped = DISCORD_MARKDOWN.sub(r"\\\1", text)
    return {"content": escaped[:DISCORD_MAX_CHARACTERS], "allowed_mentions": {"parse": []}}


def telegram_payload(chat_id: str) -> Callable[[str], Payload]:
    def payload(text: str) -> Payload:
        return {"chat_id": chat_id, "text": text[:TELEGRAM_MAX_CHARACTERS]}

    return payload


def destination_for(settings: BroadcasterSettings) -> Destination:
    if settings.webhook_format == "telegram":
        assert settings.telegram_bot_token  # required by the settings for this format
        assert settings.telegram_chat_id
        token = settings.telegram_bot_token.get_secret_value()
        base = settings.telegram_api_url.rstrip("/")
        return Destination(
            "telegram",
            f"{base}/bot{token}/sendMessage",
            telegram_payload(settings.telegram_chat_id.get_secret_value()),
            secrets=(token,),
        )
    if settings.webhook_format == "log":
        return Destination("log", None, generic_payload)
    assert settings.webhook_url  # checked by settings
    shapes = {"generic": generic_payload, "slack": slack_payload, "discord": discord_payload}
    return Destination(
        settings.webhook_format,
        settings.webhook_url,
        shapes[settings.webhook_format],
        secrets=(settings.webhook_url,),  # Slack and Discord webhook URLs are credentials
    )
