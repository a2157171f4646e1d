"""The protocol the two comparison benches share: tfmeta against a peer script, fairly.

``bench.compare_peer`` (MAML-GAN, ``../shared/peers/torch_mamlgan.py``) and
``bench.compare_few_shot`` (few-shot classification, ``torch_maml_omniglot.py``) describe
their workloads as :class:`Side` values (one per tfmeta form and per peer form) and hand them
to :func:`compare`, which

* runs ``rounds`` rounds; in each, every side once, in its own process, in the given order
  (tfmeta's forms, then every peer form), so that machine noise reaches all of them alike;
* checks every record against the workload it was asked for (:func:`check_parity`): every
  setting goes to both sides on their command lines, and each side must report back the
  settings it reports (the ones a side cannot be given, such as the GAN peer's fixed
  learning rates, it must report);
* before each round waits up to ``settle_sec`` for the 1-minute load to fall to
  ``loaded_above`` (the previous round's own processes hold it up for about a minute), records
  ``os.getloadavg()`` before and after each round and marks a round whose 1-minute load
  exceeded ``loaded_above`` when it started (``"loaded": true``); and records the share of the
  cores that other processes used during the round (``others_cpu_share``, from ``/proc/stat``
  less this process and its children: other tenants, steal time included);
* prints every run's record, one line per round (its loads) and one summary line: per side the
  medians over rounds of seconds per meta-update, peak RSS, RSS before the first update and
  working set (peak minus before, per run); per tfmeta form its speed-up against each peer form,
  the peer's fastest form and fastest exact form (peer seconds over tfmeta's: above 1 means
  tfmeta is faster), and the peer's leanest working set over tfmeta's (above 1: tfmeta's is
  smaller).

:func:`define_flags` defines the flags both benches take (each adopts them as its own key
flags, so that ``--help`` lists them); nothing else here reads flags.

Example:
    >>> side = Side("peer loop", ["python", "peer.py", "--ways=5"], ".", {"ways": 5})
    >>> check_parity(side, {"ways": 5, "machine": "x86_64"})
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, NamedTuple, Sequence

from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_FLAGS = ("peer_python", "peer_dir", "tfmeta_python", "rounds", "repeats", "threads",
                "loaded_above", "settle_sec")


def define_flags() -> None:
    """Defines :data:`SHARED_FLAGS` on absl's registry (call once, from a bench's module)."""
    flags.DEFINE_string("peer_python", None, "Required: the python of a virtual environment with "
                        "torch==2.13.0 and numpy (never a project dependency).", required=True)
    flags.DEFINE_string("peer_dir", None, "Folder of the peer scripts (default: ../shared/peers "
                        "next to the project root, or $TFMETA_SHARED_DIR/peers).")
    flags.DEFINE_string("tfmeta_python", None, "The python that runs tfmeta's side, as "
                        "`python -m bench.<module>` from the project root (default: the one "
                        "running this).")
    flags.DEFINE_integer("rounds", 3, "Rounds per workload; in each, tfmeta's forms and then every "
                         "peer form run once, one process each.", lower_bound=1)
    flags.DEFINE_integer("repeats", 5, "Timed meta-updates per process, on both sides.",
                         lower_bound=1)
    flags.DEFINE_integer("threads", os.cpu_count() or 1, "Threads of both sides: TensorFlow's "
                         "intra- and inter-op pools and the peer's --threads (default: this "
                         "machine's cores).", lower_bound=1)
    flags.DEFINE_float("loaded_above", 1.0, "A round that starts with a 1-minute load average "
                       "above this is marked loaded.", lower_bound=0.0)
    flags.DEFINE_float("settle_sec", 120.0, "Before each round, wait up to this long for the "
                       "1-minute load to fall to --loaded_above (the previous round's own "
                       "processes raise it for about a minute).", lower_bound=0.0)


class Settings(NamedTuple):
    """The shared flags' values, resolved."""
    peer_python: str
    peer_dir: str
    tfmeta_python: str
    rounds: int
    repeats: int
    threads: int
    loaded_above: float
    settle_sec: float = 0.0


def settings_from_flags(peer_script: str) -> Settings:
    """The shared flags as :class:`Settings`; ``SystemExit`` with one line when one is wrong."""
    values = flags.FLAGS
    for name in ("peer_python", "tfmeta_python"):
        path = values[name].value
        if path is not None and not os.path.isfile(path):
            sys.exit(f"error: --{name}={path} does not exist")
    peer_dir = values.peer_dir or default_peer_dir()
    if not os.path.isfile(os.path.join(peer_dir, peer_script)):
        sys.exit(f"error: --peer_dir={peer_dir} holds no {peer_script}")
    return Settings(values.peer_python, peer_dir, values.tfmeta_python or sys.executable,
                    values.rounds, values.repeats, values.threads, values.loaded_above,
                    values.settle_sec)


def default_peer_dir() -> str:
    """``$TFMETA_SHARED_DIR/peers``, else ``../shared/peers`` next to the project root."""
    shared = os.environ.get("TFMETA_SHARED_DIR") or os.path.join(ROOT, "..", "shared")
    return os.path.normpath(os.path.join(shared, "peers"))


class Side(NamedTuple):
    """One form of one side: its command and the workload it must report back.

    ``name`` starts with ``tfmeta`` or ``peer``. ``reported`` maps the side's JSON record to
    settings named as in ``expected``; ``unreported`` names the settings the side is given on
    its command line but does not report. ``exact``: its meta-gradient is exact (the
    classification peer's vmap form is not, second order with batch norm).
    """
    name: str
    command: list
    cwd: str
    expected: dict
    reported: Callable[[dict], dict] = dict
    unreported: tuple = ()
    exact: bool = True

    @property
    def is_peer(self) -> bool:
        return self.name.startswith("peer")


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            math.isclose(a, b, rel_tol=1e-9)
    return a == b


def check_parity(side: Side, record: dict) -> None:
    """ValueError naming each setting ``record`` reports otherwise than ``side.expected``."""
    reported = side.reported(record)
    wrong = [f"{k}={reported[k]!r} (asked {v!r})" for k, v in side.expected.items()
             if k in reported and not _same(reported[k], v)]
    wrong += [f"{k} not reported (asked {v!r})" for k, v in side.expected.items()
              if k not in reported and k not in side.unreported]
    if wrong:
        raise ValueError(f"{side.name} ran another workload than asked: {', '.join(wrong)}")


def last_json(text: str) -> dict:
    """The last line of ``text`` that is a JSON object."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in the output:\n{text[-2000:]}")


def run_side(side: Side) -> dict:
    """Runs ``side`` once; its record, parity checked, with ``side`` and ``exact`` set."""
    try:
        proc = subprocess.run(side.command, cwd=side.cwd, capture_output=True, text=True)
    except OSError as e:  # not executable, a bad interpreter line
        raise RuntimeError(f"{side.name}: cannot run {side.command[0]}: {e.strerror}") from e
    if proc.returncode != 0:
        raise RuntimeError(f"{side.name}: {' '.join(side.command)} failed (exit "
                           f"{proc.returncode}):\n{proc.stderr[-3000:]}")
    record = last_json(proc.stdout)
    check_parity(side, record)
    return dict(record, side=side.name, exact=side.exact)


def _print_json(record: dict) -> None:
    print(json.dumps(record), flush=True)


def cpu_seconds() -> tuple[float | None, float]:
    """``(busy, ours)``: CPU seconds the whole machine has been busy since boot (``/proc/stat``:
    user, nice, system, irq, softirq and steal, every core; None where there is none) and the
    CPU seconds of this process and its finished children."""
    ours = sum(getattr(resource.getrusage(who), name) for who in (resource.RUSAGE_SELF,
               resource.RUSAGE_CHILDREN) for name in ("ru_utime", "ru_stime"))
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None, ours
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK"), ours


def settle(loaded_above: float, wait_sec: float, *, loadavg: Callable[[], tuple] = os.getloadavg,
           sleep: Callable[[float], None] = time.sleep, poll_sec: float = 5.0) -> float:
    """Waits until the 1-minute load is at most ``loaded_above`` (our own last run's share
    decays in about a minute), at most ``wait_sec``; returns the seconds waited."""
    waited = 0.0
    while waited < wait_sec and round(loadavg()[0], 2) > loaded_above:
        step = min(poll_sec, wait_sec - waited)
        sleep(step)
        waited += step
    return waited


def run_rounds(label: str, sides: Sequence[Side], rounds: int, loaded_above: float, *,
               settle_sec: float = 0.0, run: Callable[[Side], dict] = run_side,
               loadavg: Callable[[], tuple] = os.getloadavg,
               cpu: Callable[[], tuple] = cpu_seconds, clock: Callable[[], float] = time.time,
               sleep: Callable[[float], None] = time.sleep,
               emit: Callable[[dict], None] = _print_json) -> tuple[dict, list]:
    """``rounds`` rounds of every side in order: ``({side name: [records]}, [round records])``.

    Before each round it waits up to ``settle_sec`` for the 1-minute load to fall to
    ``loaded_above`` (:func:`settle`). Each record gets ``round``; after each round ``emit``
    gets ``{"round", "workload", "settled_sec", "loadavg_before", "loadavg_after", "loaded",
    "others_cpu_share"}``: the 1-, 5- and 15-minute loads, ``loaded`` when the 1-minute load
    exceeded ``loaded_above`` as the round started, and the share of the machine's cores that
    processes other than these benchmarks used during the round (``/proc/stat``'s busy time
    minus ours, over wall time x cores; None where ``/proc/stat`` is missing).
    """
    runs: dict = {side.name: [] for side in sides}
    loads = []
    for index in range(rounds):
        settled = settle(loaded_above, settle_sec, loadavg=loadavg, sleep=sleep)
        before, (busy0, ours0), start = loadavg(), cpu(), clock()
        for side in sides:
            record = dict(run(side), round=index)
            emit(record)
            runs[side.name].append(record)
        after, (busy1, ours1), wall = loadavg(), cpu(), clock() - start
        before, after = [round(x, 2) for x in before], [round(x, 2) for x in after]
        others = (None if busy0 is None or busy1 is None or wall <= 0 else round(max(
            (busy1 - busy0) - (ours1 - ours0), 0.0) / (wall * (os.cpu_count() or 1)), 3))
        load = {"round": index, "workload": label, "settled_sec": settled,
                "loadavg_before": before, "loadavg_after": after,
                "loaded": before[0] > loaded_above,   # as recorded: 1.501 is 1.5, not loaded
                "others_cpu_share": others}
        emit(load)
        print(f"{label}: round {index + 1}/{rounds}, 1-minute load {before[0]:.2f} -> "
              f"{after[0]:.2f}{' (loaded)' if load['loaded'] else ''}, other processes "
              f"{'?' if others is None else f'{others:.1%}'} of the cores", file=sys.stderr,
              flush=True)
        loads.append(load)
    return runs, loads


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def summarize(label: str, workload: dict, sides: Sequence[Side], runs: dict, loads: list,
              loaded_above: float) -> dict:
    """The summary record of one workload (see the module docstring)."""
    medians = {}
    for side in sides:
        outs = runs[side.name]
        medians[side.name] = {
            "sec_per_meta_update": statistics.median(o["sec_per_meta_update"] for o in outs),
            "peak_rss_mb": statistics.median(o["peak_rss_mb"] for o in outs),
            "rss_before_first_update_mb": statistics.median(
                o["rss_before_first_update_mb"] for o in outs),
            "working_set_mb": statistics.median(
                o["peak_rss_mb"] - o["rss_before_first_update_mb"] for o in outs),
            "exact": side.exact}
    peers = [side.name for side in sides if side.is_peer]
    exact = [side.name for side in sides if side.is_peer and side.exact]
    sec = {name: medians[name]["sec_per_meta_update"] for name in medians}
    working = {name: medians[name]["working_set_mb"] for name in medians}
    fastest = min(peers, key=sec.get)
    fastest_exact = min(exact, key=sec.get) if exact else None
    leanest = min(peers, key=working.get)
    ratios = {}
    for side in sides:
        if side.is_peer:
            continue
        ours = side.name
        ratios[ours] = {
            "speedup_vs": {peer: _ratio(sec[peer], sec[ours]) for peer in peers},
            "speedup_vs_peer_fastest": _ratio(sec[fastest], sec[ours]),
            "speedup_vs_peer_fastest_exact": (_ratio(sec[fastest_exact], sec[ours])
                                              if fastest_exact else None),
            "working_set_ratio_vs_peer_leanest": _ratio(working[leanest], working[ours])}
    return {"summary": label, "workload": workload, "threads": workload["threads"],
            "rounds": len(loads), "loaded_above": loaded_above, "round_loads": loads,
            "loaded_rounds": [load["round"] for load in loads if load["loaded"]],
            "sides": medians, "peer_fastest": fastest, "peer_fastest_exact": fastest_exact,
            "peer_leanest": leanest, "ratios": ratios}


def compare(label: str, workload: dict, sides: Sequence[Side], settings: Settings) -> dict:
    """Runs, prints and returns the comparison of one workload (module docstring)."""
    runs, loads = run_rounds(label, sides, settings.rounds, settings.loaded_above,
                             settle_sec=settings.settle_sec)
    summary = summarize(label, workload, sides, runs, loads, settings.loaded_above)
    _print_json(summary)
    return summary
