"""`svc-wikipedia fetch-page`: the init container and sidecar that keep an article on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared_testkit.polling import wait_until
from svc_wikipedia.fetch_page import Interval, parse_interval

COMMAND = str(Path(sys.executable).parent / "svc-wikipedia")


def fetch_page(wikipedia_url: str, *arguments: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [COMMAND, "fetch-page", *arguments],
        env={**os.environ, "WIKIPEDIA_BASE_URL": wikipedia_url, "WIKIPEDIA_ATTEMPTS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_a_random_article_is_written_to_the_file(wikipedia: Any, tmp_path: Path) -> None:
    out = tmp_path / "www" / "index.html"

    process = fetch_page(wikipedia.url, "--out", str(out))

    assert process.wait(timeout=30) == 0
    assert out.read_bytes() == b"<!DOCTYPE html><html><body><h1>/wiki/Article_1</h1></body></html>"
    assert out.stat().st_mode & 0o777 == 0o644


def test_a_named_article_is_written_to_the_file(wikipedia: Any, tmp_path: Path) -> None:
    out = tmp_path / "index.html"

    process = fetch_page(wikipedia.url, "--out", str(out), "--url", "/wiki/Kubernetes")

    assert process.wait(timeout=30) == 0
    assert b"<h1>/wiki/Kubernetes</h1>" in out.read_bytes()


def test_wikipedia_down_fails_the_init_container_and_writes_nothing(
    wikipedia: Any, tmp_path: Path
) -> None:
    wikipedia.mode = "server_error"
    out = tmp_path / "index.html"

    process = fetch_page(wikipedia.url, "--out", str(out))

    assert process.wait(timeout=30) == 1
    assert not out.exists()


def test_the_sidecar_refreshes_the_page_until_sigterm(wikipedia: Any, tmp_path: Path) -> None:
    out = tmp_path / "index.html"
    process = fetch_page(wikipedia.url, "--out", str(out), "--every", "0.1-0.2s")
    try:
        wait_until(lambda: out.exists() and b"Article_3" in out.read_bytes(), timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=10) == 0
    assert list(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5-15m", Interval(300, 900)), ("30s", Interval(30, 30)), ("1h", Interval(3600, 3600))],
)
def test_intervals_read_like_the_manifests_write_them(text: str, expected: Interval) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["15-5m", "0s", "5-15", "often"])
def test_an_unreadable_interval_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="interval"):
        parse_interval(text)


def test_the_command_line_refuses_a_bad_interval(tmp_path: Path) -> None:
    result = subprocess.run(
        [COMMAND, "fetch-page", "--out", str(tmp_path / "x"), "--every", "often"],
        capture_output=True,
        check=False,
    )

    assert result.returncode == 2
    assert b"expected an interval like 5-15m" in result.stderr
