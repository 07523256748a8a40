"""L3: `make up` in a temporary copy of the repository, exercised as a newcomer would use it.

Each run gets its own DATA_DIR and free ports (the stack's port variables), reuses the
project's .venv through a symlink, and talks to a local stand-in for Wikipedia; nothing else
from outside is needed. Ctrl-C is sent the way a terminal sends it: to the whole foreground
process group of `make`.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import nats
import pytest

from shared_contracts.catalog import WIKIPEDIA_REQUESTED
from shared_contracts.cloudevents import CloudEvent
from shared_contracts.wikipedia import WikipediaRequested
from shared_runtime.messaging import publish_event
from shared_testkit.fake_http import FakeHttpServer, Recorded, Reply
from shared_testkit.polling import eventually, wait_until
from shared_testkit.ports import free_port, port_open

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("todo", "broadcaster", "wikipedia", "greeter-v1", "greeter-v2", "pingpong", "logoutput")
TABLE_ROW = re.compile(
    r"^\S+ devstack +\| (?P<name>\S+) +(?P<url>(?:http|nats)://\S+) +(?P<health>.+)$"
)


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files as a clone would have them, with the project's .venv linked in."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    copy = tmp_path_factory.mktemp("clone")
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(REPO / ".venv", target_is_directory=True)
    return copy


@pytest.fixture(scope="module")
def wikipedia() -> Iterator[FakeHttpServer]:
    """`Special:Random` pointing at a new article on every call; anything else is not found."""
    articles = itertools.count(1)

    def respond(request: Recorded) -> Reply:
        if request.path.startswith("/wiki/Special:Random"):
            return Reply(status=302, headers={"Location": f"/wiki/Article_{next(articles)}"})
        return Reply(status=404)

    with FakeHttpServer(respond) as server:
        yield server


def port_variable(service: str) -> str:
    return f"DEVSTACK_{service.upper().replace('-', '_')}_PORT"


class Stack:
    """One `make up` run: its ports, its output, and Ctrl-C."""

    def __init__(self, repo: Path, data_dir: Path, wikipedia_url: str) -> None:
        self.repo = repo
        self.data_dir = data_dir
        self.ports = {name: free_port() for name in SERVICES}
        self.nats_port = free_port()
        environ = {
            k: v
            for k, v in os.environ.items()
            if k not in ("NATS_URL", "DATABASE_URL", "PORT", "MAKEFLAGS", "MAKELEVEL")
        }
        self.env = {
            **environ,
            "DATA_DIR": str(data_dir),
            "NATS_PORT": str(self.nats_port),
            "DEVSTACK_NATS_MONITOR_PORT": str(free_port()),
            "WIKIPEDIA_BASE_URL": wikipedia_url,
            "IMAGE_SOURCE_URL": f"{wikipedia_url}/no-image-here",
            "DEVSTACK_READY_TIMEOUT": "60",
            **{port_variable(name): str(port) for name, port in self.ports.items()},
        }
        self.lines: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def start(self) -> None:
        # `-o`: the environment is the project's, already installed; do not reinstall it here.
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/bin/.installed", "up"],
            cwd=self.repo,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._collect, args=(self.process,), daemon=True).start()

    def _collect(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def health_table(self) -> dict[str, tuple[str, str]]:
        """Waits for the table `make up` prints once every service answered /readyz."""

        def printed() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"make up exited early:\n{self.output()[-5000:]}")
            return any("ready after" in line for line in self.lines)

        wait_until(printed, timeout=90, interval=0.2, message="the health table")
        rows = [m for line in self.lines if (m := TABLE_ROW.match(line))]
        return {m["name"]: (m["url"], m["health"]) for m in rows if m["name"] != "service"}

    def interrupt(self) -> None:
        """Ctrl-C in the terminal: SIGINT to make and everything in its process group."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"make up still running:\n{self.output()[-5000:]}") from exc

    def down(self) -> str:
        """`make down` from another terminal; returns what it printed once `make up` is gone."""
        assert self.process is not None
        stopped = subprocess.run(
            ["make", "--no-print-directory", "down"],
            cwd=self.repo,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert self.process.wait(timeout=10) == 0, self.output()[-5000:]
        return stopped.stdout

    def kill(self) -> None:
        """Test clean-up only: whatever is left of this run, including its services."""
        for pid in processes_with(self.data_dir):
            os.kill(pid, signal.SIGKILL)


def processes_with(data_dir: Path) -> list[int]:
    """Every process started for this run: they all carry its DATA_DIR in their environment."""
    marker = f"DATA_DIR={data_dir.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker in environ:
            found.append(int(entry.name))
    return found


NewStack = Callable[[], Stack]


@pytest.fixture
def new_stack(repo_copy: Path, wikipedia: FakeHttpServer, tmp_path: Path) -> Iterator[NewStack]:
    """Stacks on one DATA_DIR, as successive `make up` runs in one clone; all killed after."""
    started: list[Stack] = []

    def new() -> Stack:
        stack = Stack(repo_copy, tmp_path / "data", wikipedia.url)
        started.append(stack)
        return stack

    yield new
    for stack in started:
        stack.kill()


async def todo_texts(stack: Stack) -> list[str]:
    async with httpx.AsyncClient(base_url=stack.url("todo")) as client:
        return [t["text"] for t in (await client.get("/api/todos")).json()]


async def suggestions(stack: Stack, wikipedia: FakeHttpServer, at_least: int) -> list[str] | None:
    """The "Read <article>" todos, once there are `at_least` of them."""
    prefix = f"Read {wikipedia.url}/wiki/Article_"
    found = [text for text in await todo_texts(stack) if text.startswith(prefix)]
    return found if len(found) >= at_least else None


async def request_a_suggestion(stack: Stack) -> None:
    client = await nats.connect(stack.nats_url)
    try:
        request = CloudEvent.new(
            WIKIPEDIA_REQUESTED.event_type, "/tests/smoke", WikipediaRequested()
        )
        await publish_event(client.jetstream(), WIKIPEDIA_REQUESTED.subject, request)
    finally:
        await client.close()


async def test_make_up_runs_every_service_and_ctrl_c_leaves_nothing_running(
    new_stack: NewStack, wikipedia: FakeHttpServer
) -> None:
    stack = new_stack()
    stack.start()

    assert stack.health_table() == {
        "nats": (stack.nats_url, "ready"),
        **{name: (stack.url(name), "ready") for name in SERVICES},
    }

    async with httpx.AsyncClient(timeout=5) as http:
        created = await http.post(stack.url("todo") + "/api/todos", json={"text": "smoke: milk"})
        assert created.status_code == 201

        async def broadcast() -> bool:
            return any(
                line.partition("| ")[0].rstrip().endswith(" broadcaster")
                and '"chat message"' in line
                and "smoke: milk" in line
                for line in stack.lines
            )

        await eventually(broadcast, timeout=15, message="the broadcaster's chat message")

        scheduled = await eventually(
            lambda: suggestions(stack, wikipedia, 1), message="the hourly scheduler's suggestion"
        )
        assert scheduled is not None
        await request_a_suggestion(stack)
        await eventually(
            lambda: suggestions(stack, wikipedia, len(scheduled) + 1),
            message="a Read todo for the request published on wikipedia.requests",
        )

        pongs = [(await http.get(stack.url("pingpong") + "/pingpong")).text for _ in range(2)]
        assert pongs == ["pong 0", "pong 1"]
        page = (await http.get(stack.url("logoutput") + "/")).text
        assert "Ping / Pongs: 2" in page
        assert "env variable: MESSAGE=hello world" in page

        v1 = (await http.get(stack.url("greeter-v1") + "/")).json()
        v2 = (await http.get(stack.url("greeter-v2") + "/")).json()
        assert (v1["version"], v2["version"]) == ("v1", "v2")

    stack.interrupt()
    assert processes_with(stack.data_dir) == []
    assert not any(port_open(port) for port in [*stack.ports.values(), stack.nats_port])
    last_service_stopped = max(i for i, line in enumerate(stack.lines) if " stopped (rc=" in line)
    nats_stopping = next(i for i, line in enumerate(stack.lines) if "stopping nats-server" in line)
    assert nats_stopping > last_service_stopped
    assert "Server Exiting" in stack.output()
    assert "Traceback" not in stack.output()


async def test_a_second_make_up_finds_the_data_of_the_first_and_make_down_stops_it(
    new_stack: NewStack,
) -> None:
    first = new_stack()
    first.start()
    first.health_table()
    async with httpx.AsyncClient(timeout=5) as http:
        await http.post(first.url("todo") + "/api/todos", json={"text": "remember me"})
        assert (await http.get(first.url("pingpong") + "/pingpong")).text == "pong 0"
    first.interrupt()

    second = new_stack()
    second.start()
    assert all(health == "ready" for _, health in second.health_table().values())
    async with httpx.AsyncClient(timeout=5) as http:
        assert "remember me" in await todo_texts(second)
        assert (await http.get(second.url("pingpong") + "/pingpong")).text == "pong 1"
    assert "stack stopped" in second.down()
    assert processes_with(second.data_dir) == []


def test_a_taken_port_is_named_with_the_way_out_and_nothing_starts(new_stack: NewStack) -> None:
    stack = new_stack()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", stack.ports["pingpong"]))
        squatter.listen()
        stack.start()
        assert stack.process is not None
        code = stack.process.wait(timeout=30)

    assert code != 0
    port = stack.ports["pingpong"]
    assert f"{port} (svc-pingpong): free it or set DEVSTACK_PINGPONG_PORT" in stack.output()
    assert "Traceback" not in stack.output()
    assert processes_with(stack.data_dir) == []
