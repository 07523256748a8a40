"""The NATS topologies of the deployment on loopback, from the repository's own configuration:
one node with nats/single.conf (compose, a laptop) or the three routed JetStream nodes of
nats/cluster.conf (Kubernetes), with a fresh random password per user of nats/accounts.conf.

On the cluster, each node can be killed (`kill -9`) and restarted on the same ports and store,
and cut off from its peers by the route proxies (`partition`), while clients keep reaching it;
`leader` says which node leads a stream (`$JS.API.STREAM.INFO`), and `seed_url` is the seed list
a client is given, as in Kubernetes. `provision` declares the streams, consumers and bucket of
the NACK manifests (nats/jetstream/) as the NACK controller does, at their R3 on the cluster.
"""

from __future__ import annotations

import importlib.util
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import nats
from nats.aio.client import Client

from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually, wait_until
from shared_testkit.ports import free_port
from shared_testkit.route_proxy import RouteProxy

_PASSWORD_VARIABLE = re.compile(r"password:\s*\$(NATS_\w+_PASSWORD)")
HEALTHY_SECONDS = 60.0


def password_variables(accounts: Path) -> dict[str, str]:
    """User name -> the environment variable holding its password, as accounts.conf says."""
    text = accounts.read_text()
    users = re.findall(r"user:\s*(\w+)\s*\n\s*password:\s*\$(NATS_\w+_PASSWORD)", text)
    if len(users) != len(_PASSWORD_VARIABLE.findall(text)):
        raise ValueError(f"{accounts}: every `password:` must follow its `user:` line")
    return dict(users)


def loopback_configs(
    nats_dir: Path,
    directory: Path,
    route_ports: list[int],
    advertised_ports: list[int],
    leaf_ports: list[int],
) -> list[Path]:
    """cluster.conf for each node on 127.0.0.1. Only the cluster and leaf node ports, the routes,
    the pid file and the store change (client and monitor ports and the store go on the command
    line), and each node advertises `advertised_ports[n]` to its peers, where its route proxy
    listens; the routes name those too. Everything else, users and permissions included, is the
    file Kubernetes runs. A rewrite that no longer applies fails rather than quietly testing
    something else."""
    text = (nats_dir / "cluster.conf").read_text()
    (directory / "accounts.conf").write_text((nats_dir / "accounts.conf").read_text())
    configs = []

    def peer(route: re.Match[str]) -> str:
        return f"nats://127.0.0.1:{advertised_ports[int(route[1])]}"

    for node, port in enumerate(route_ports):
        rewrites: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
            (r"pid_file: /tmp/nats\.pid", f"pid_file: {directory}/nats-{node}.pid"),
            (r"store_dir: /data/jetstream", "# store_dir: on the command line"),
            (
                r"listen: 0\.0\.0\.0:6222",
                f"listen: 127.0.0.1:{port}\n  advertise: 127.0.0.1:{advertised_ports[node]}",
            ),
            (r"listen: 0\.0\.0\.0:7422", f"listen: 127.0.0.1:{leaf_ports[node]}"),
            (r"nats://nats-(\d+)\.nats-headless:6222", peer),
        ]
        config = text
        for pattern, replacement in rewrites:
            config, count = re.subn(pattern, replacement, config)
            if count == 0:
                raise ValueError(f"cluster.conf no longer contains {pattern!r}")
        path = directory / f"nats-{node}.conf"
        path.write_text(config)
        configs.append(path)
    return configs


def load_provisioning(nats_dir: Path) -> ModuleType:
    """nats/provision.py, the script `docker compose up` runs: tests provision as it does."""
    spec = importlib.util.spec_from_file_location("provision", nats_dir / "provision.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{nats_dir / 'provision.py'} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class NatsCluster:
    """One node (`topology="single"`) or three routed ones (`"cluster"`)."""

    topology: str
    nats_dir: Path
    nodes: list[NatsServer]
    passwords: dict[str, str]
    leaf_ports: list[int] = field(default_factory=list)
    proxies: list[RouteProxy] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def seed_url(self) -> str:
        """Every node, comma separated: what a service's NATS_URL says in Kubernetes."""
        return ",".join(self.urls)

    @property
    def replicas(self) -> int | None:
        """What provisioning asks for: one copy on one node, the manifests' own on the cluster."""
        return 1 if self.topology == "single" else None

    def pids(self) -> dict[int, int]:
        """Node index -> pid, for the nodes running now (the route proxies tell dialers apart)."""
        return {
            n: node.process.pid for n, node in enumerate(self.nodes) if node.process is not None
        }

    def node_named(self, name: str) -> int:
        """The index of the node whose server_name is `name` (nats-0, nats-1, nats-2)."""
        return int(name.removeprefix("nats-"))

    async def connect(self, user: str, **options: Any) -> Client:
        """A client of `user` with the seed list; it follows the cluster through failures."""

        async def expected(_: Exception) -> None:
            """Disconnects are what the tests cause; they assert on outcomes, not on these."""

        settings: dict[str, Any] = {
            "error_cb": expected,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.2,
            "connect_timeout": 2,
        }
        settings.update(options)
        return await nats.connect(
            servers=self.urls, user=user, password=self.passwords[user], **settings
        )

    async def provision(self) -> list[str]:
        """As NACK does, as the `provisioner` user; returns once every stream and the bucket
        have a leader with every replica current."""
        provisioning = load_provisioning(self.nats_dir)
        client = await self.connect("provisioner")
        try:
            js = client.jetstream()
            declared: list[str] = await provisioning.provision(
                js,
                provisioning.load_manifests(self.nats_dir / "jetstream"),
                replicas=self.replicas,
            )
            streams = [i.split()[1] for i in declared if i.startswith("stream ")]
            streams += [f"KV_{i.split()[1]}" for i in declared if i.startswith("bucket ")]
            await self.wait_replicated(client, streams)
        finally:
            await client.close()
        return declared

    async def wait_replicated(
        self, client: Client, streams: list[str], timeout: float = HEALTHY_SECONDS
    ) -> None:
        """Every stream in `streams` has a leader and every follower is current."""
        js = client.jetstream(timeout=2)

        async def replicated() -> bool:
            for name in streams:
                cluster = (await js.stream_info(name)).cluster
                if cluster is None:
                    continue
                peers = cluster.replicas or []
                if not cluster.leader or not all(p.current and not p.offline for p in peers):
                    return False
            return True

        await eventually(
            replicated, timeout=timeout, interval=0.2, message=f"{streams} led and replicated"
        )

    async def leader(self, client: Client, stream: str) -> int | None:
        """The node leading `stream` now, or None while it has none."""
        cluster = (await client.jetstream(timeout=2).stream_info(stream)).cluster
        if cluster is None or not cluster.leader:
            return None
        return self.node_named(cluster.leader)

    async def wait_leader(self, client: Client, stream: str, timeout: float) -> int:
        """The node leading `stream`, once it has one."""

        async def led() -> list[int]:
            node = await self.leader(client, stream)
            return [] if node is None else [node]

        [node] = await eventually(led, timeout=timeout, interval=0.1, message=f"{stream} led")
        return node

    def kill(self, node: int) -> None:
        """`kill -9`: no lame duck mode, no goodbye to the peers."""
        self.nodes[node].stop(kill=True)

    def restart(self, node: int) -> None:
        """Start a stopped node again on its ports and store directory."""
        self.nodes[node].start()

    def partition(self, node: int) -> None:
        """Cut every route between `node` and its peers; clients still reach every node."""
        self._cut(node, True)

    def heal(self, node: int) -> None:
        self._cut(node, False)

    def _cut(self, node: int, cut: bool) -> None:
        for proxy in self.proxies:
            if proxy.node == node:
                proxy.isolate(cut)
            else:
                proxy.block(node, cut)

    def routes(self, node: int) -> set[str]:
        """The server names `node` has a route to now (its monitoring endpoint)."""
        url = f"http://127.0.0.1:{self.nodes[node].monitor_port}/routez"
        return {r.get("remote_name", "") for r in httpx.get(url, timeout=1).json()["routes"] or []}

    def wait_routed(self, timeout: float = HEALTHY_SECONDS) -> None:
        """Every node has routes to both others (a full mesh again)."""
        names = {f"nats-{n}" for n in range(len(self.nodes))}
        wait_until(
            lambda: all(self.routes(n) == names - {f"nats-{n}"} for n in range(len(self.nodes))),
            timeout=timeout,
            message="a full mesh of routes",
        )

    def healthy(self, node: int) -> bool:
        """JetStream on `node` is current with the cluster (the StatefulSet's startup probe)."""
        url = f"http://127.0.0.1:{self.nodes[node].monitor_port}/healthz"
        return httpx.get(url, timeout=1).status_code == 200

    def meta_leader_current(self) -> bool:
        """The JetStream meta leader counts every other node as current: until then it may
        refuse to place a stream's replicas ("no suitable peers for placement")."""
        for node in self.nodes:
            url = f"http://127.0.0.1:{node.monitor_port}/jsz"
            meta = httpx.get(url, timeout=1).json().get("meta_cluster") or {}
            replicas = meta.get("replicas") or []
            if len(replicas) == len(self.nodes) - 1 and all(r.get("current") for r in replicas):
                return True
        return False

    def wait_healthy(self, timeout: float = HEALTHY_SECONDS) -> None:
        wait_until(
            lambda: (
                all(self.healthy(n) for n in range(len(self.nodes))) and self.meta_leader_current()
            ),
            timeout=timeout,
            message=f"JetStream healthy on every {self.topology} node",
        )

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(kill=True)
        for proxy in self.proxies:
            proxy.close()


def start_nats(nats_dir: Path, directory: Path, topology: str = "cluster") -> NatsCluster:
    """nats-server from the wheel with single.conf, or three with cluster.conf on loopback behind
    their route proxies; returns once JetStream is healthy on every node (a meta leader is
    elected)."""
    variables = password_variables(nats_dir / "accounts.conf")
    # Prefixed: the config parser reads a value that is all digits or starts with "-" otherwise.
    passwords = {user: f"pw-{secrets.token_hex(12)}" for user in variables}
    environment = {variables[user]: password for user, password in passwords.items()}
    cluster = NatsCluster(topology, nats_dir, [], passwords)
    if topology == "single":
        configs = [nats_dir / "single.conf"]
    else:
        cluster.leaf_ports = [free_port() for _ in range(3)]
        route_ports = [free_port() for _ in range(3)]
        cluster.proxies = [
            RouteProxy(node, port, cluster.pids) for node, port in enumerate(route_ports)
        ]
        configs = loopback_configs(
            nats_dir,
            directory,
            route_ports,
            [proxy.port for proxy in cluster.proxies],
            cluster.leaf_ports,
        )
    try:
        for node, config in enumerate(configs):
            (directory / f"nats-{node}").mkdir()
            cluster.nodes.append(
                NatsServer(
                    directory / f"nats-{node}" / "jetstream",
                    config_file=config,
                    env={**environment, "POD_NAME": f"nats-{node}"},
                )
            )
            cluster.nodes[-1].start()
        cluster.wait_healthy()
    except BaseException:
        cluster.stop()
        raise
    return cluster
