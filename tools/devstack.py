"""`make up`: NATS and every service on this machine with one command; Ctrl-C stops them all.

honcho runs the services (output prefixed per service; on a signal or a crash it terminates them
all, then kills what is left after a grace period). This script adds what honcho lacks: a plain
message instead of a traceback when Python is too old or a port is taken, the embedded
nats-server started first and stopped last, a wait for every `/readyz`, and one health table.

    .venv/bin/python tools/devstack.py        # start and stay in the foreground (`make up`)
    .venv/bin/python tools/devstack.py down   # stop a stack started elsewhere (`make down`)

Everything the services read passes through from the environment (`DATABASE_URL`, `LOG_LEVEL`,
`WEBHOOK_FORMAT`, ...); unset, the stack's defaults below apply. State lives under `DATA_DIR`
(`.data/`): SQLite files unless `DATABASE_URL` is set, and NATS's JetStream store, so a second
run finds the data of the first. With `NATS_URL` set no NATS is started; otherwise one listens on
`NATS_PORT` (4222) with its monitoring on `DEVSTACK_NATS_MONITOR_PORT` (8222).
`DEVSTACK_<SERVICE>_PORT` moves a service (`DEVSTACK_TODO_PORT=9000`, `DEVSTACK_GREETER_V2_PORT`)
and `DEVSTACK_READY_TIMEOUT` (60 s) bounds the wait for readiness.
"""

from __future__ import annotations

import sys

# Checked before anything newer is imported: this file may be run by an older python3.
if sys.version_info < (3, 11):  # noqa: UP036
    sys.exit(f"make up needs Python 3.11 or newer; this is {sys.version.split()[0]}.")

import json
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from queue import Empty, Queue
from types import FrameType
from typing import Any

BIN = Path(sys.executable).parent
NATS_STOP_SECONDS = 15
INFO_TEXT = "this text is from file\n"


class StackError(Exception):
    """A problem the user can fix; printed as one message, never as a traceback."""


@dataclass(frozen=True)
class Service:
    name: str
    command: str
    default_port: int
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def port_variable(self) -> str:
        return f"DEVSTACK_{self.name.upper().replace('-', '_')}_PORT"


SERVICES = (
    Service("todo", "svc-todo", 8000),
    Service("broadcaster", "svc-broadcaster", 8001),
    Service("wikipedia", "svc-wikipedia", 8002),
    Service("greeter-v1", "svc-greeter", 8003, {"GREETER_VERSION": "v1"}),
    Service("greeter-v2", "svc-greeter", 8004, {"GREETER_VERSION": "v2"}),
    Service("pingpong", "svc-pingpong", 8005),
    Service("logoutput", "svc-logoutput", 8006),
)


@dataclass(frozen=True)
class Plan:
    """Where everything listens, decided from the environment before anything starts."""

    data_dir: Path
    ports: dict[str, int]
    nats_url: str
    embedded_nats: bool
    nats_port: int
    nats_monitor_port: int
    ready_timeout: float
    notes: tuple[str, ...] = ()

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "devstack.pid"

    def url(self, service: Service) -> str:
        return f"http://127.0.0.1:{self.ports[service.name]}"

    def service_env(self, environ: Mapping[str, str], service: Service) -> dict[str, str]:
        """The stack's defaults, overridden by the caller's environment, then this instance's."""
        by_name = {s.name: s for s in SERVICES}
        defaults = {
            "WEBHOOK_FORMAT": "log",
            "SUGGEST_EVERY_MINUTES": "60",
            "PINGPONG_URL": self.url(by_name["pingpong"]),
            "GREETER_URL": self.url(by_name["greeter-v1"]),
            "MESSAGE": "hello world",
            "INFO_FILE": str(self.data_dir / "information.txt"),
        }
        return {
            **defaults,
            **environ,
            "DATA_DIR": str(self.data_dir),
            "NATS_URL": self.nats_url,
            "PYTHONUNBUFFERED": "1",
            **service.env,
            "PORT": str(self.ports[service.name]),
        }


def _port(environ: Mapping[str, str], variable: str, default: int) -> int:
    text = environ.get(variable, str(default))
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise StackError(f"{variable}={text!r} is not a port number.")
    return int(text)


def _nats_port(environ: Mapping[str, str], variable: str, default: int, notes: list[str]) -> int:
    """The default port, or a free one when something else (a system NATS) holds the default.

    Only NATS may move by itself: the services reach it through the `NATS_URL` given to them,
    while people and other services rely on the contract's service ports.
    """
    if variable in environ or not _in_use(default):
        return _port(environ, variable, default)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    notes.append(f"port {default} is taken, so NATS uses {port} (set {variable} to choose)")
    return port


def plan_from(environ: Mapping[str, str]) -> Plan:
    ports = {s.name: _port(environ, s.port_variable, s.default_port) for s in SERVICES}
    external_nats = environ.get("NATS_URL")
    notes: list[str] = []
    nats_port = nats_monitor_port = 0
    if not external_nats:
        nats_port = _nats_port(environ, "NATS_PORT", 4222, notes)
        nats_monitor_port = _nats_port(environ, "DEVSTACK_NATS_MONITOR_PORT", 8222, notes)
    timeout = environ.get("DEVSTACK_READY_TIMEOUT", "60")
    try:
        ready_timeout = float(timeout)
    except ValueError:
        raise StackError(f"DEVSTACK_READY_TIMEOUT={timeout!r} is not seconds.") from None
    return Plan(
        data_dir=Path(environ.get("DATA_DIR", ".data")).resolve(),
        ports=ports,
        nats_url=external_nats or f"nats://127.0.0.1:{nats_port}",
        embedded_nats=not external_nats,
        nats_port=nats_port,
        nats_monitor_port=nats_monitor_port,
        ready_timeout=ready_timeout,
        notes=tuple(notes),
    )


def check_ready_to_start(plan: Plan) -> None:
    """Every command installed and every port free, or one message saying what to do."""
    missing = sorted({s.command for s in SERVICES if not (BIN / s.command).exists()})
    if plan.embedded_nats and not (BIN / "nats-server").exists():
        missing.append("nats-server")
    if missing:
        raise StackError(f"{', '.join(missing)} not installed in {BIN}: run `make venv`.")
    wanted = [(s.port_variable, plan.ports[s.name], s.command) for s in SERVICES]
    if plan.embedded_nats:
        wanted += [
            ("NATS_PORT", plan.nats_port, "nats-server"),
            ("DEVSTACK_NATS_MONITOR_PORT", plan.nats_monitor_port, "nats-server monitoring"),
        ]
    numbers = [port for _, port, _ in wanted]
    if clash := sorted({port for port in numbers if numbers.count(port) > 1}):
        raise StackError(f"port {clash[0]} is given to two processes: check the port variables.")
    taken = [(variable, port, who) for variable, port, who in wanted if _in_use(port)]
    if taken:
        lines = [f"  {port} ({who}): free it or set {variable}" for variable, port, who in taken]
        raise StackError(
            "these ports are already in use (another `make up`? stop it or run `make down`):\n"
            + "\n".join(lines)
        )


def _in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own URLs
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except OSError as error:
        return 0, f"not answering ({error.__class__.__name__})"


def _reason(status: int, body: str) -> str:
    """What /readyz says is missing (`{"reasons": [...]}` from the shared web layer)."""
    try:
        reasons = json.loads(body).get("reasons")
    except (ValueError, AttributeError):
        reasons = None
    if isinstance(reasons, list) and reasons:
        return "; ".join(map(str, reasons))[:160]
    return body.strip()[:160] or f"HTTP {status}"


class Output:
    """Lines for honcho's printer, queued so that every thread's lines come out whole."""

    def __init__(self, events: Queue[Any]) -> None:
        self.events = events

    def line(self, name: str, text: str, colour: str | None = None) -> None:
        from honcho.printer import Message

        self.events.put(Message("line", text, datetime.now(), name, colour))


class EmbeddedNats:
    """nats-server from the wheel, JetStream stored under DATA_DIR, in its own session."""

    def __init__(self, plan: Plan, output: Output) -> None:
        self.plan = plan
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None
        self.relay: threading.Thread | None = None

    def start(self) -> None:
        store = self.plan.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        command = [
            str(BIN / "nats-server"),
            "--name",
            "devstack",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.plan.nats_port),
            "-m",
            str(self.plan.nats_monitor_port),
            "-js",
            "-sd",
            str(store),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.relay = threading.Thread(target=self._relay, args=(self.process,), daemon=True)
        self.relay.start()
        health = f"http://127.0.0.1:{self.plan.nats_monitor_port}/healthz?js-enabled-only=true"
        deadline = time.monotonic() + 15
        while _get(health)[0] != 200:
            if self.process.poll() is not None:
                raise StackError(f"nats-server exited with {self.process.returncode}; see above.")
            if time.monotonic() > deadline:
                raise StackError("nats-server did not become healthy within 15 s; see above.")
            time.sleep(0.1)

    def _relay(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self.output.line("nats", raw.decode(errors="replace").rstrip("\n"), "34;1")

    def stop(self) -> None:
        """SIGTERM, wait for JetStream to flush, SIGKILL only if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.output.line("devstack", "stopping nats-server")
        self.process.terminate()
        try:
            self.process.wait(timeout=NATS_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.relay is not None:
            self.relay.join(timeout=5)


@dataclass
class Row:
    name: str
    url: str
    health: str


def health_table(rows: list[Row], seconds: float, todo_page: str) -> str:
    header = Row("service", "URL", "health")
    name_width = max(len(r.name) for r in [header, *rows])
    url_width = max(len(r.url) for r in [header, *rows])
    lines = [f"{r.name:<{name_width}}  {r.url:<{url_width}}  {r.health}" for r in [header, *rows]]
    ready = sum(r.health == "ready" for r in rows)
    lines.append(
        f"{ready} of {len(rows)} ready after {seconds:.1f} s; the todo page is {todo_page}/"
        " (Ctrl-C stops everything)"
    )
    return "\n".join(lines)


def await_readiness(plan: Plan, output: Output, stopping: threading.Event) -> None:
    """Poll every /readyz until all answer 200 or time runs out, then print one table."""
    started = time.monotonic()
    pending = {s.name: plan.url(s) for s in SERVICES}
    health: dict[str, str] = {}
    while pending and not stopping.is_set() and time.monotonic() - started < plan.ready_timeout:
        for name, url in list(pending.items()):
            status, body = _get(url + "/readyz")
            health[name] = "ready" if status == 200 else f"not ready: {_reason(status, body)}"
            if status == 200:
                del pending[name]
        stopping.wait(0.25)
    if stopping.is_set():
        return
    rows = [Row(s.name, plan.url(s), health.get(s.name, "not ready")) for s in SERVICES]
    nats_health = "ready" if plan.embedded_nats else "external (NATS_URL)"
    rows.insert(0, Row("nats", plan.nats_url, nats_health))
    todo_page = plan.url(SERVICES[0])
    output.line("devstack", health_table(rows, time.monotonic() - started, todo_page))


def run(plan: Plan, environ: Mapping[str, str]) -> int:
    from honcho.manager import Manager
    from honcho.printer import Printer

    printer = Printer(sys.stdout)
    manager = Manager(printer)
    output = Output(manager.events)
    nats = EmbeddedNats(plan, output)
    plan.data_dir.mkdir(parents=True, exist_ok=True)
    info_file = plan.data_dir / "information.txt"
    if not info_file.exists():
        info_file.write_text(INFO_TEXT)
    plan.pid_file.write_text(str(os.getpid()))
    for note in plan.notes:
        output.line("devstack", note)
    try:
        if plan.embedded_nats:
            nats.start()
        for service in SERVICES:
            command = f"exec {shlex.quote(str(BIN / service.command))}"
            manager.add_process(service.name, command, env=plan.service_env(environ, service))
        stopping = threading.Event()
        waiter = threading.Thread(
            target=await_readiness, args=(plan, output, stopping), daemon=True
        )
        waiter.start()
        manager.loop()  # until Ctrl-C, SIGTERM or any service exiting; stops them all
        stopping.set()
    except KeyboardInterrupt:
        pass  # before honcho's loop took over the signals: no service was started yet
    finally:
        nats.stop()
        _print_pending(manager.events, printer)
        plan.pid_file.unlink(missing_ok=True)
    if manager.returncode in (None, 130, 143):  # nothing started yet, Ctrl-C, SIGTERM
        return 0
    print(
        f"make up: a service exited by itself (code {manager.returncode}), so everything was"
        " stopped; its last lines are above.",
        file=sys.stderr,
    )
    return int(manager.returncode) or 1


def _print_pending(events: Queue[Any], printer: Any) -> None:
    """What was queued after honcho's loop ended (NATS shutting down) or before it began."""
    while True:
        try:
            printer.write(events.get(timeout=0.2))
        except Empty:
            return


def down(plan: Plan) -> int:
    """Stop a stack started by `make up` elsewhere, as Ctrl-C would, and wait until it is gone."""
    try:
        pid = int(plan.pid_file.read_text())
    except (FileNotFoundError, ValueError):
        pid = 0
    if not (pid and _alive(pid) and _is_devstack(pid)):
        print(f"no stack is running from {plan.data_dir}")
        plan.pid_file.unlink(missing_ok=True)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _alive(pid):
        if time.monotonic() > deadline:
            raise StackError(f"devstack (pid {pid}) is still stopping after 60 s.")
        time.sleep(0.2)
    print("stack stopped")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _is_devstack(pid: int) -> bool:
    """Not some other process that reused the pid of a stack that was killed."""
    if not Path("/proc").is_dir():  # no procfs (macOS): trust the pid file
        return True
    try:
        return b"devstack.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    # Until honcho takes over the signals: SIGTERM stops things as Ctrl-C does, and a closed
    # terminal (SIGHUP) too, so nothing is left behind.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    try:
        plan = plan_from(os.environ)
        if argv == ["down"]:
            return down(plan)
        if argv:
            raise StackError(f"unknown arguments {argv}: use no argument (up) or `down`.")
        check_ready_to_start(plan)
        return run(plan, os.environ)
    except StackError as error:
        print(f"make up: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
