"""log-output's page through its public host: each line shows its value, read from the mounted
file, the environment, its own heartbeat, svc-pingpong's count and svc-greeter's greeting (the
last two reached inside the mesh, pingpong possibly waking from zero)."""

from __future__ import annotations

import re

import httpx

from shared_testkit.polling import wait_until

HEARTBEAT = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d): "
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
PINGS = re.compile(r"^Ping / Pongs: \d+$")
GREETING = re.compile(r"^greetings: \S.* \(greeter v[12]\)$")


def test_every_line_of_the_page_has_its_value(log: httpx.Client) -> None:
    def page_without_gaps() -> list[str] | None:
        """A function asleep at zero may miss the page's one-second budget while it wakes."""
        response = log.get("/")
        assert response.status_code == 200, response.text
        return None if "unavailable" in response.text else response.text.splitlines()

    lines = wait_until(page_without_gaps, timeout=60, interval=2, message="a page without gaps")

    file_line, env_line, heartbeat, pings, greeting = lines
    assert file_line.startswith("file content: ")
    assert env_line.startswith("env variable: MESSAGE=")
    assert HEARTBEAT.match(heartbeat), heartbeat
    assert PINGS.match(pings), pings
    assert GREETING.match(greeting), greeting
