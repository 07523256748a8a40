"""Fixtures for the end-to-end suites, where services run as their own processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared_testkit.processes import ServiceProcess


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    """Service processes a test starts; each is killed at its end, whatever happened."""
    started: list[ServiceProcess] = []
    yield started
    for process in started:
        process.stop(kill=True)
