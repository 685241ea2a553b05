"""CPU accounting for the benches, read from /proc (Linux): processes, trees, the machine.

A server's CPU is utime+stime of its whole process tree (a master and its workers), read
before and after a run. PostgreSQL's share is read from the server processes ("backends")
that hold our service's connections, found through the sockets in /proc — no query needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
TCP_ESTABLISHED = "01"


@dataclass
class Cpu:
    """(utime, stime) ticks of processes, by pid (only pids alive at snapshot time)."""

    ticks: dict[int, tuple[int, int]] = field(default_factory=dict)


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, utime ticks, stime ticks) of ``pid``; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]), int(fields[12])


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants now alive."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        info = _stat(pid)
        if info is not None:
            children.setdefault(info[0], []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def pids_cpu(pids: list[int]) -> Cpu:
    ticks: dict[int, tuple[int, int]] = {}
    for pid in pids:
        info = _stat(pid)
        if info is not None:
            ticks[pid] = (info[1], info[2])
    return Cpu(ticks)


def tree_cpu(root: int) -> Cpu:
    """CPU ticks of ``root`` and all its descendants now alive."""
    return pids_cpu(tree_pids(root))


def cpu_delta(before: Cpu, after: Cpu) -> tuple[float, float]:
    """(user, system) CPU seconds used between two snapshots.

    A process that started in between counts from zero; one that ended in between is lost.
    """
    user = system = 0
    for pid, (u, s) in after.ticks.items():
        u0, s0 = before.ticks.get(pid, (0, 0))
        user, system = user + u - u0, system + s - s0
    return user / CLK_TCK, system / CLK_TCK


def machine_busy_s() -> float:
    """CPU seconds all processes on the machine have used since boot (from /proc/stat)."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


# --------------------------------------------------------------------------- sockets


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for entry in entries:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{entry}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _tcp_connections() -> list[tuple[int, int, int]]:
    """(local port, remote port, inode) of every established IPv4/IPv6 TCP connection."""
    rows: list[tuple[int, int, int]] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] != TCP_ESTABLISHED:
                continue
            local = int(cols[1].rsplit(":", 1)[1], 16)
            remote = int(cols[2].rsplit(":", 1)[1], 16)
            rows.append((local, remote, int(cols[9])))
    return rows


def peer_server_pids(client_root: int, server_port: int, server_name: str) -> list[int]:
    """Processes named ``server_name`` holding the server end of connections that the tree
    under ``client_root`` opened to ``server_port`` (e.g. the PostgreSQL backends serving a
    service's pool)."""
    ours: set[int] = set()
    for pid in tree_pids(client_root):
        ours |= _socket_inodes(pid)
    connections = _tcp_connections()
    client_ports = {
        local for local, remote, inode in connections if inode in ours and remote == server_port
    }
    server_inodes = {
        inode
        for local, remote, inode in connections
        if local == server_port and remote in client_ports
    }
    found: list[int] = []
    for pid in _all_pids():
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if name == server_name and _socket_inodes(pid) & server_inodes:
            found.append(pid)
    return found
