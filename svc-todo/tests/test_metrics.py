"""`/metrics` counts and times requests on every route, by route template, method and status."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Any]


LABEL = re.compile(r'(\w+)="([^"]*)"')


def requests_total(metrics: str, method: str, path: str, status: int) -> float:
    wanted = {"method": method, "path": path, "status_code": str(status), "app_name": "svc-todo"}
    for line in metrics.splitlines():
        if line.startswith("http_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            if dict(LABEL.findall(labels)) == wanted:
                return float(value)
    return 0.0


async def test_every_route_is_counted_by_template_and_status(client: Client) -> None:
    todo = (await client.post("/api/todos", json={"text": "count me"})).json()
    missing = "00000000-0000-4000-8000-000000000000"
    calls = [
        ("GET", "/api/todos", "/api/todos", 200),
        ("GET", f"/api/todos/{todo['id']}", "/api/todos/{todo_id}", 200),
        ("GET", f"/api/todos/{missing}", "/api/todos/{todo_id}", 404),
        ("PUT", f"/api/todos/{todo['id']}", "/api/todos/{todo_id}", 200),
        ("DELETE", f"/api/todos/{todo['id']}", "/api/todos/{todo_id}", 204),
        ("POST", "/api/todos", "/api/todos", 400),
        ("GET", "/", "/", 200),
        ("GET", "/fragments/todos", "/fragments/todos", 200),
        ("GET", "/image", "/image", 200),
    ]
    before = (await client.get("/metrics")).text

    for method, url, _, status in calls:
        body = {"json": {"done": True}} if method == "PUT" else {}
        if method == "POST":
            body = {"json": {"text": ""}}
        response = await client.request(method, url, **body)
        assert response.status_code == status, (method, url, response.text)

    after = (await client.get("/metrics")).text
    for method, _, template, status in calls:
        counted = requests_total(after, method, template, status)
        assert counted >= requests_total(before, method, template, status) + 1, (method, template)
    assert re.search(
        r'^http_request_duration_seconds_bucket\{[^}]*path="/api/todos"', after, re.MULTILINE
    )
    assert 'path="/healthz"' not in after
    assert 'path="/metrics"' not in after
