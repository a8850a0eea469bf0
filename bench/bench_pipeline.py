"""The whole path, commit to client: host emitter, worker and node as separate processes.

Run: ``.venv/bin/python bench/bench_pipeline.py [--baseline REV] [--seconds S] [--rates
200,1000,2000] [--no-saturation] [--rounds N] [--profile DIR]``. Needs ``redis-server`` on
PATH and 2 CPUs; takes about 2 minutes per tree and round.

For each tree (``--baseline REV``: a ``git worktree`` of that revision, first; then this
one), with an embedded store and a private Redis of its own:

- the **host emitters** (``bench/pipeline_emitter.py``, ``--emitters`` processes, 2 by
  default: one cannot offer 2,000 emits/s here), one notification per host transaction
  through the public facade (``Tidings.run_in_transaction`` + ``Tidings.emit``, which wakes
  the worker after each commit), each to the next of its share of 1,000 users in turn, the
  offered rate split between them;
- ``tidings worker``, and one ``tidings serve`` node (pinned to CPU 0, as in
  ``bench_delivery.py``);
- 1,000 WebSocket clients, one per user, in ``bench/loadgen.py`` (pinned to CPU 1 with
  Redis). The emitter and the worker are not pinned.

Phases: a warm-up (one notification per user, not counted), then each offered rate for
``--seconds`` (paced on an absolute schedule), then saturation (the emitter as fast as it
goes). For each: delivered/s at the clients (between 10% and 90% of the frames), latency
from the commit to the frame received (p50, p99, p99.9, max), the worker's CPU per routed
record and the emitter's per emit (``/proc/<pid>/stat``, all threads), the node's per frame.
Every client's stream is checked: seqs 1, 2, 3, ... with no gap and no duplicate, and at the
end of each phase every user's last seq must equal what was emitted to it (``lost``).

``--profile DIR``: after the counted phases of this tree, one more phase at the highest rate
(not counted) with py-spy sampling the worker and the first emitter (``--gil``: the samples
that hold the GIL, close to Python's CPU); collapsed stacks in ``DIR``.
"""

import argparse
import contextlib
import os
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_delivery import (  # noqa: E402
    PYTHON,
    TIDINGS,
    Loadgen,
    Processes,
    connect_clients,
    cpu_seconds,
    cpu_times,
    machine,
    start_node,
    start_redis,
    tidings_env,
)
from bench_routing import baseline_tree  # noqa: E402

from foundation.constants import WAKE_CHANNEL  # noqa: E402

USERS = 1000
# `tidings <command>` from another source tree, imported ahead of this one's.
TREE_CLI = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'tidings';"
    " from tidings.cli import main; sys.exit(main())"
)


@dataclass
class Phase:
    """What one phase measured."""

    label: str
    emitted: int = 0
    offered: float = 0.0
    delivered: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    p999: float = 0.0
    worst: float = 0.0
    worker_us: float = 0.0  # worker CPU per routed record
    emitter_us: float = 0.0  # emitter CPU per emit
    node_us: float = 0.0  # node CPU per frame
    lost: int = 0
    gaps: int = 0
    duplicates: int = 0
    others: float = 0.0  # CPU taken by other processes, share of the machine
    problems: list[str] = field(default_factory=list)


@dataclass
class Stack:
    """One tree's processes: emitter, worker, node, and its private Redis."""

    label: str
    emitters: list[subprocess.Popen[bytes]]
    worker: subprocess.Popen[bytes]
    node: Any  # bench_delivery.Subject
    redis_pid: int
    emitted: dict[str, int] = field(default_factory=dict)  # per user, since the start

    def pids(self) -> list[int]:
        return [self.worker.pid, self.node.pid, self.redis_pid, *(e.pid for e in self.emitters)]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def tidings_args(tree: Path | None, *command: str) -> list[str]:
    if tree is None:
        return [TIDINGS, *command]
    return [PYTHON, "-c", TREE_CLI, str(tree), *command]


def send(process: subprocess.Popen[bytes], **command: Any) -> None:
    """One JSON line to ``process``."""
    assert process.stdin is not None
    process.stdin.write(orjson.dumps(command) + b"\n")
    process.stdin.flush()


def answer(process: subprocess.Popen[bytes], within: float) -> dict[str, Any]:
    """The JSON line ``process`` answers within ``within`` seconds."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], within)
    line = process.stdout.readline() if ready else b""
    if not line:
        raise RuntimeError(f"no answer from pid {process.pid}")
    found: dict[str, Any] = orjson.loads(line)
    return found


def wait_for_wake_subscriber(redis_url: str, procs: Processes, log: str) -> None:
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 30
    try:
        while not client.pubsub_numsub(WAKE_CHANNEL)[0][1]:
            if time.monotonic() > deadline:
                raise RuntimeError("the worker never subscribed\n" + procs.log_tail(log))
            time.sleep(0.05)  # polling a starting process, with a deadline
    finally:
        client.close()


def start_stack(
    procs: Processes, tree: Path | None, label: str, tmp: Path, secret: str, emitters: int
) -> Stack:
    name = label.replace(" ", "-")
    data_dir = tmp / name
    redis_url, redis_pid = start_redis(procs)
    node_args = tidings_args(tree, "serve")
    node = start_node(procs, f"{name}-serve", node_args, data_dir, redis_url, secret, "u")
    env = tidings_env(data_dir, redis_url, secret, 0)
    worker = procs.start(f"{name}-worker", tidings_args(tree, "worker"), cpu=None, env=env)
    wait_for_wake_subscriber(redis_url, procs, f"{name}-worker")
    emitter_args = [PYTHON, str(REPO / "bench" / "pipeline_emitter.py"), str(tree or "")]
    started = [
        procs.start(f"{name}-emitter-{i}", emitter_args, cpu=None, env=env, pipes=True)
        for i in range(emitters)
    ]
    return Stack(label, started, worker, node, redis_pid)


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies summed over every CPU."""
    times = cpu_times().values()
    return sum(busy for busy, _ in times), sum(total for _, total in times)


def run_phase(
    stack: Stack, loadgen: Loadgen, label: str, rate: float | None, seconds: float
) -> Phase:
    users = stack.node.users
    found = Phase(label)
    expect = round(rate * seconds) if rate is not None else 10**9
    loadgen.call(30, cmd="arm", expect=expect)
    pids = [*stack.pids(), loadgen.process.pid, os.getpid()]
    cpu_before = [cpu_seconds(pid) for pid in pids]
    busy_before = machine_busy()
    share = len(stack.emitters)
    for i, emitter in enumerate(stack.emitters):
        each = None if rate is None else rate / share
        send(emitter, cmd="run", rate=each, seconds=seconds, users=users[i::share])
    answers = [answer(emitter, seconds + 120) for emitter in stack.emitters]
    found.emitted = sum(a["emitted"] for a in answers)
    found.offered = found.emitted / max(a["seconds"] for a in answers)
    for a in answers:
        for user, count in a["counts"].items():
            stack.emitted[user] = stack.emitted.get(user, 0) + count
    loadgen.call(30, cmd="expect", expect=found.emitted)
    result = loadgen.call(180, cmd="wait", timeout=120, stall=10)
    cpu_after = [cpu_seconds(pid) for pid in pids]
    busy_after = machine_busy()
    used = [after - before for after, before in zip(cpu_after, cpu_before, strict=True)]
    ticks = os.sysconf("SC_CLK_TCK")
    busy = (busy_after[0] - busy_before[0]) / ticks
    total = (busy_after[1] - busy_before[1]) / ticks
    found.others = max(0.0, busy - sum(used)) / max(total, 1e-9)
    records = max(found.emitted, 1)
    found.emitter_us = sum(a["cpu"] for a in answers) / records * 1e6
    found.worker_us = used[0] / records * 1e6
    found.node_us = used[1] / max(result["count"], 1) * 1e6
    window = (result["high_ns"] - result["low_ns"]) / 1e9
    marks = result["mark_high"] - result["mark_low"]
    found.delivered = marks / window if window > 0 else float("nan")
    found.p50, found.p99 = result["p50_ms"], result["p99_ms"]
    found.p999, found.worst = result["p999_ms"], result["max_ms"]
    found.gaps, found.duplicates = result["gaps"], result["duplicates"]
    heads = loadgen.call(30, cmd="heads")["heads"]
    found.lost = sum(max(0, n - heads.get(user, 0)) for user, n in stack.emitted.items())
    if result["count"] < found.emitted:
        found.problems.append(f"{result['count']} of {found.emitted} frames arrived")
    if result["closed_by_server"]:
        found.problems.append(f"{result['closed_by_server']} closed: {result['closes']}")
    late = max(a["late"] for a in answers)
    if late > 0.05:
        found.problems.append(f"the emitters fell {late * 1000:.0f} ms behind")
    say(f"  {stack.label} {label}: {row(found)}")
    return found


def row(phase: Phase) -> str:
    return (
        f"{phase.offered:>8,.0f} {phase.delivered:>9,.0f} {phase.p50:>7.1f} {phase.p99:>7.1f}"
        f" {phase.p999:>7.1f} {phase.worst:>7.1f} {phase.worker_us:>7.0f} {phase.emitter_us:>7.0f}"
        f" {phase.node_us:>6.0f} {phase.lost:>5} {phase.gaps:>4} {phase.duplicates:>4}"
        f" {phase.others:>6.0%}"
    )


@contextlib.contextmanager
def profiling(procs: Processes, stack: Stack, out: Path) -> Iterator[None]:
    """py-spy sampling the worker and the emitter while the block runs."""
    pyspy = Path(PYTHON).with_name("py-spy")
    if not pyspy.exists():
        say("  py-spy not found (pip install py-spy): no profile")
        yield
        return
    recorders = []
    for name, process in (("worker", stack.worker), ("emitter", stack.emitters[0])):
        args = [str(pyspy), "record", "--pid", str(process.pid), "--rate", "250"]
        args += ["--format", "raw", "--threads", "--gil", "--output", str(out / f"{name}.txt")]
        recorders.append(procs.start(f"py-spy-{name}", args, cpu=None))
    time.sleep(1.0)
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                recorder.wait(30)
            procs.stop(recorder)
        say(f"  collapsed stacks in {out}")


def run_tree(
    procs: Processes, loadgen: Loadgen, args: argparse.Namespace, tree: Path | None, label: str
) -> list[Phase]:
    stack = start_stack(procs, tree, label, Path(procs.log_dir), loadgen.secret, args.emitters)
    phases = []
    try:
        connect_clients(loadgen, stack.node, 0)
        run_phase(stack, loadgen, "warm-up", USERS, 1.0)
        for rate in args.rates:
            phases.append(run_phase(stack, loadgen, f"{rate:,}/s", rate, args.seconds))
        if not args.no_saturation:
            phases.append(run_phase(stack, loadgen, "saturation", None, args.seconds))
        if args.profile is not None and tree is None:
            with profiling(procs, stack, args.profile):
                rate = max(args.rates)
                run_phase(stack, loadgen, f"{rate:,}/s profiled", rate, args.seconds)
    finally:
        loadgen.call(60, cmd="close")
        for emitter in stack.emitters:
            with contextlib.suppress(Exception):
                send(emitter, cmd="exit")
        for process in (*stack.emitters, stack.worker, stack.node.process):
            procs.stop(process)
    return phases


def print_report(results: list[tuple[str, list[Phase]]], args: argparse.Namespace) -> None:
    print(f"\ntidings commit-to-client pipeline, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(machine())
    print(
        f"{USERS:,} clients, {args.emitters} emitter processes, one emit per host transaction,"
        f" {args.seconds:g} s per phase;"
        " latency: commit to frame received, ms; CPU: us per record (worker: per routed"
        " record, emitter: per emit, node: per frame); others: CPU of other processes,"
        " share of the machine"
    )
    head = (
        f"{'tree':<22} {'phase':<11} {'offered':>8} {'delivered':>9} {'p50':>7} {'p99':>7}"
        f" {'p99.9':>7} {'max':>7} {'worker':>7} {'emitter':>7} {'node':>6} {'lost':>5}"
        f" {'gaps':>4} {'dups':>4} {'others':>6}"
    )
    print(head)
    for label, phases in results:
        for phase in phases:
            print(f"{label:<22} {phase.label:<11} {row(phase)}")
    problems = [
        f"{label} {phase.label}: {problem}"
        for label, phases in results
        for phase in phases
        for problem in phase.problems
    ]
    print("problems: " + ("; ".join(problems) if problems else "none"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", metavar="REV", help="also run this git revision, first")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per phase")
    parser.add_argument(
        "--rates",
        type=lambda text: [int(rate) for rate in text.split(",")],
        default=[200, 1000, 2000],
        help="offered emits/s, comma-separated (default 200,1000,2000)",
    )
    parser.add_argument("--no-saturation", action="store_true", help="leave out saturation")
    parser.add_argument("--rounds", type=int, default=1, help="times to run every tree")
    parser.add_argument(
        "--emitters", type=int, default=2, help="host emitter processes (default 2)"
    )
    parser.add_argument("--profile", type=Path, help="directory for py-spy stacks")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, list[Phase]]] = []
    with tempfile.TemporaryDirectory(prefix="tidings-pipeline-") as name:
        tmp = Path(name)
        procs = Processes(tmp)
        try:
            with baseline_tree(args.baseline) as tree:
                loadgen = Loadgen(procs, "bench-secret-" + secrets.token_hex(16))
                trees = [(tree, f"baseline {args.baseline}")] if tree is not None else []
                trees.append((None, "this tree"))
                for round_ in range(args.rounds):
                    for path, label in trees:
                        say(f"{label}, round {round_ + 1}")
                        results.append((label, run_tree(procs, loadgen, args, path, label)))
                loadgen.close()
        except (KeyboardInterrupt, RuntimeError) as error:
            say(f"bench_pipeline stopped: {type(error).__name__}: {error}")
            raise SystemExit(1) from None
        finally:
            procs.stop_all()
    print_report(results, args)


if __name__ == "__main__":
    main()
