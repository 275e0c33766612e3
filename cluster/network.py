"""The cluster's private network: one bridge on the host and one network namespace per host.

Everything lives in SUBNET, which must be unused on this machine: the script refuses to start if an
address or a route of the host already covers it, or if the bridge or a namespace name is taken. The
namespaces get no default route, so nothing in the cluster can reach beyond the subnet, and the load
generator (in the host's own namespace) talks only to the cluster's addresses.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SUBNET = ipaddress.ip_network("10.77.0.0/24")
BRIDGE = "swc-br0"
# Marks the bridge as this script's, so a later run recognises a crashed run's leftovers.
BRIDGE_ALIAS = "shopwright-cluster-test"
HOST_ADDRESS = "10.77.0.1"  # the bridge: the host's (and the load generator's) address in the subnet


@dataclass(frozen=True)
class Host:
    """One machine of the cluster: a network namespace with one address."""

    name: str
    address: str

    @property
    def namespace(self) -> str:
        return f"swc-{self.name}"

    @property
    def veth(self) -> str:  # the host-side end of its cable (interface names have at most 15 bytes)
        return f"swcv-{self.name}"


BALANCER = Host("lb", "10.77.0.10")
PRIMARY = Host("db1", "10.77.0.11")
REPLICA = Host("db2", "10.77.0.12")
REDIS = Host("redis", "10.77.0.13")
APP1 = Host("app1", "10.77.0.21")
APP2 = Host("app2", "10.77.0.22")
WORKER = Host("worker", "10.77.0.31")
HOSTS = (BALANCER, PRIMARY, REPLICA, REDIS, APP1, APP2, WORKER)
CLIENTS_FIRST = (BALANCER, APP1, APP2, WORKER, REDIS, REPLICA, PRIMARY)


class NetworkInUse(RuntimeError):
    """The subnet, the bridge name or a namespace name is already used on this machine."""


def run(*command: str, check: bool = True) -> str:
    """Run a command and return its output; raise with its error output when it fails."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def in_namespace(host: Host, *command: str) -> list[str]:
    """Return `command` so that it runs inside `host`'s namespace."""
    return ["ip", "netns", "exec", host.namespace, *command]


def namespaces() -> set[str]:
    return {line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip()}


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True, check=False).returncode == 0


def check_free() -> None:
    """Refuse to go on if the subnet, the bridge name or a namespace name is already in use."""
    for line in run("ip", "-4", "-o", "addr", "show").splitlines():
        address = ipaddress.ip_interface(line.split()[3])
        if address.network.overlaps(SUBNET):
            raise NetworkInUse(f"{SUBNET} is in use: {line.split()[1]} has {address}")
    for line in run("ip", "-4", "route", "show", "table", "all").splitlines():
        words = line.split()
        target = words[1] if words[0] in ("local", "broadcast", "unicast") else words[0]
        if target == "default":
            continue
        network = ipaddress.ip_network(target, strict=False)
        if network.prefixlen > 0 and network.overlaps(SUBNET):
            raise NetworkInUse(f"{SUBNET} is in use: route {line.strip()!r}")
    for name in (BRIDGE, *(host.veth for host in HOSTS)):
        if link_exists(name):
            raise NetworkInUse(f"a network interface called {name} exists")
    taken = namespaces() & {host.namespace for host in HOSTS}
    if taken:
        raise NetworkInUse(f"network namespaces already exist: {', '.join(sorted(taken))}")


class Network:
    """Creates the bridge and the namespaces, records each in `state_file`, and removes them again."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file

    def _record(self, kind: str, name: str) -> None:
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        state.setdefault(kind, []).append(name)
        self.state_file.write_text(json.dumps(state))

    def create(self) -> None:
        """Make the bridge (the host's address in the subnet) and one namespace per cluster host."""
        # Each name is recorded before it is made: a run killed in between leaves nothing unrecorded.
        self._record("bridges", BRIDGE)
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "link", "set", BRIDGE, "alias", BRIDGE_ALIAS)
        run("ip", "addr", "add", f"{HOST_ADDRESS}/{SUBNET.prefixlen}", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        for host in HOSTS:
            self._record("namespaces", host.namespace)
            run("ip", "netns", "add", host.namespace)
            self._record("veths", host.veth)
            cable = ("ip", "link", "add", host.veth, "type", "veth")
            run(*cable, "peer", "name", "eth0", "netns", host.namespace)
            run("ip", "link", "set", host.veth, "master", BRIDGE, "up")
            inside = ("ip", "netns", "exec", host.namespace, "ip")
            run(*inside, "addr", "add", f"{host.address}/{SUBNET.prefixlen}", "dev", "eth0")
            run(*inside, "link", "set", "eth0", "up")
            run(*inside, "link", "set", "lo", "up")

    def remove(self) -> None:
        """Kill what still runs in the recorded namespaces, then delete them, their cables and the bridge."""
        if not self.state_file.exists():
            return
        state = json.loads(self.state_file.read_text())
        ours = [namespace for namespace in state.get("namespaces", []) if namespace in namespaces()]
        # Clients before the servers they talk to: a connection closed after its peer's namespace is
        # gone waits minutes for an answer, and keeps its own namespace (and cable) alive meanwhile.
        order = [host.namespace for host in CLIENTS_FIRST]
        for namespace in sorted(ours, key=order.index):
            kill_all_in(namespace, signal.SIGKILL)  # servers were stopped before: what is left is leftover
        for namespace in ours:
            run("ip", "netns", "delete", namespace, check=False)
        for veth in state.get("veths", []):
            if link_exists(veth):  # deleting one end of a cable deletes both
                run("ip", "link", "delete", veth, check=False)
        for bridge in state.get("bridges", []):
            if link_exists(bridge) and BRIDGE_ALIAS in run("ip", "link", "show", bridge):
                run("ip", "link", "delete", bridge, check=False)
        self.state_file.unlink()


def pids_in(namespace: str) -> list[int]:
    """Return the processes running in a namespace."""
    output = run("ip", "netns", "pids", namespace, check=False)
    return [int(pid) for pid in output.split()]


def kill_all_in(namespace: str, sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
    """Stop every process in one of our namespaces (politely, then with SIGKILL after `grace`)."""
    for pid in pids_in(namespace):
        _signal(pid, sig)
    deadline = time.monotonic() + grace
    while pids_in(namespace) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids_in(namespace):
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended by itself meanwhile
        os.kill(pid, sig)
