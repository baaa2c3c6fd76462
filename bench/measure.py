"""Timing one command: wall time, and the peak RSS of each process in its tree.

Peak RSS is read as VmHWM from /proc/<pid>/status by a sampler thread (every 50 ms), per process
name. Not ru_maxrss: Linux carries a process's pre-exec high-water mark across exec, so every
child of a 70 MB Python process would "peak" at 70 MB at least.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


class BenchError(RuntimeError):
    pass


@dataclass
class Sample:
    seconds: float
    peaks_kb: dict[str, int]  # peak RSS (VmHWM) per process name in the tree
    cpu_s: float = 0.0  # user + system CPU of the command's whole process tree (wait4)
    server_cpu_s: float = 0.0  # CPU of the PostgreSQL cluster and the S3 server during the run
    self_maxrss_kb: int | None = None  # pgdrill's own process (from the wrapper)
    children_maxrss_kb: int | None = None  # its largest child (pg_dump, pg_restore)
    extra: dict[str, float] = field(default_factory=dict)


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid``, its reaped children and its live children (one level deep is
    enough for a postmaster and its backends, or a server and its threads)."""
    tick = os.sysconf("SC_CLK_TCK")

    def own(p: int, with_reaped: bool) -> float:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        ut, st, cut, cst = (int(x) for x in fields[11:15])
        return (ut + st + ((cut + cst) if with_reaped else 0)) / tick

    total = own(pid, True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == pid:
                total += own(int(entry), False)
    return total


def _children(pid: int) -> int:
    """Client connections among ``pid``'s children (backends titled "… 127.0.0.1(port) …")."""
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) != pid:
                        continue
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    n += b"127.0.0.1(" in f.read()
            except OSError:
                continue
    return n


def settle(servers: Sequence[int], baseline: dict[int, int], timeout: float = 3.0) -> None:
    """Wait until the servers are back to their child count from before the run: a backend exits (and
    is reaped, which is when its CPU shows in the postmaster's totals) a moment after its client."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_children(p) > baseline[p] for p in servers):
        time.sleep(0.02)


def run(cmd: Sequence[str], env: dict[str, str], cwd: str, log: str, stdin: str | None = None,
        servers: Sequence[int] = ()) -> Sample:
    """Run ``cmd`` to completion; raise BenchError (with the log's tail) on a non-zero exit.
    ``servers``: pids whose CPU use during the run is charged to it (postmaster, S3 server)."""
    baseline = {p: _children(p) for p in servers}
    before = sum(tree_cpu(p) for p in servers)
    with open(log, "ab") as err, open(stdin or os.devnull, "rb") as inp:
        err.write(("\n$ " + " ".join(cmd) + "\n").encode())
        err.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdin=inp, stdout=err, stderr=err)
        sampler = _Sampler(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        sampler.stop()
        settle(servers, baseline)
        server_cpu = sum(tree_cpu(p) for p in servers) - before
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        with open(log, "rb") as f:
            tail = f.read()[-1500:].decode(errors="replace")
        raise BenchError(f"exit {proc.returncode}: {' '.join(cmd)[:200]}\n{tail}")
    return Sample(round(seconds, 3), sampler.peaks, round(usage.ru_utime + usage.ru_stime, 2), round(server_cpu, 2))


def _status(pid: int) -> tuple[str, int, int] | None:
    """(name, ppid, VmHWM kB) of a live process."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    hwm = fields.get("VmHWM", "0 kB").split()[0]
    return fields["Name"].strip(), int(fields["PPid"]), int(hwm)


class _Sampler:
    """Polls the process tree under ``root`` and keeps the largest VmHWM seen per process name."""

    def __init__(self, root: int, every: float = 0.05) -> None:
        self.root = root
        self.every = every
        self.peaks: dict[str, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.every)

    def sample(self) -> None:
        procs = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (st := _status(int(entry))) is not None:
                procs[int(entry)] = st
        tree = {self.root}
        changed = True
        while changed:
            changed = False
            for pid, (_, ppid, _) in procs.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    changed = True
        for pid in tree:
            if pid in procs:
                name, _, hwm = procs[pid]
                if hwm > self.peaks.get(name, 0):
                    self.peaks[name] = hwm

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    low: float
    high: float

    @property
    def spread(self) -> float:
        """(max - min) / median: how noisy the repetitions were."""
        return (self.high - self.low) / self.median if self.median else 0.0

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(len(values), statistics.median(values), min(values), max(values))
