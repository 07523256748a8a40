"""The testcontainers provider, used only where a Docker engine answers."""

from __future__ import annotations

from typing import Any


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all mean "absent"
        return False
    return True


def start_postgres() -> tuple[Any, str]:
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer("postgres:16-alpine", driver=None).start()
    return container, str(container.get_connection_url())


def start_nats() -> tuple[Any, str]:
    from testcontainers.nats import NatsContainer

    container = NatsContainer("nats:2.11-alpine").with_command("-js").start()
    return container, str(container.nats_uri())
