"""tfmeta against the PyTorch peer on the reference workload, alternating in one session.

``../shared/peers/torch_mamlgan.py`` implements the reference MAML-GAN meta-update in
PyTorch (torch.func, as a learn2learn or higher user would write it). This runs, for each
algorithm, ``--rounds`` rounds of: one ``bench.meta_step`` process, then one peer process
(and the peer again with ``--meta-backward per-task``, its lowest-memory form, for maml),
so that machine noise hits both sides alike. Prints every run's JSON line (``side``:
``tfmeta`` or ``peer``) and then one summary line per algorithm: medians over rounds of
the seconds per meta-update and peak RSS, and their ratios (peer / tfmeta: above 1 means
tfmeta is faster or smaller).

The peer needs its own virtual environment (never a project dependency)::

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    python -m bench.compare_peer --peer_python=/tmp/torchvenv/bin/python

Flags (``--helpfull`` lists them): ``--peer_python`` (required), ``--algorithms`` (default
``maml,fomaml,reptile``), ``--rounds`` (1), ``--repeats`` (timed meta-updates per process, 5),
``--inner_steps`` (10), ``--tasks`` (4), ``--batch_size`` (32), ``--peer_dir`` (default
``../shared/peers`` next to the project root, or ``$TFMETA_SHARED_DIR/peers``), ``--remat``
(also time tfmeta with ``--remat``, its lowest-memory form, for maml and fomaml).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import NamedTuple

from absl import app, flags

from trainers import common

ALGORITHMS = ("maml", "fomaml", "reptile")

flags.DEFINE_string("peer_python", None, "Required: the python of a virtual environment with "
                    "torch==2.13.0 and numpy.", required=True)
flags.DEFINE_string("peer_dir", None, "Folder of torch_mamlgan.py (default: ../shared/peers "
                    "next to the project root, or $TFMETA_SHARED_DIR/peers).")
flags.DEFINE_list("algorithms", list(ALGORITHMS), "Algorithms to compare.")
flags.DEFINE_integer("rounds", 1, "Alternating rounds per algorithm.", lower_bound=1)
flags.DEFINE_integer("repeats", 5, "Timed meta-updates per process.", lower_bound=1)
flags.DEFINE_integer("inner_steps", 10, "k: inner steps per task.", lower_bound=1)
flags.DEFINE_integer("tasks", 4, "N: tasks per meta-update.", lower_bound=1)
flags.DEFINE_integer("batch_size", 32, "B: images and latents per inner step.", lower_bound=1)
flags.DEFINE_bool("remat", False, "Also time tfmeta --remat for maml and fomaml.")
flags.register_validator("algorithms", lambda names: set(names) <= set(ALGORITHMS),
                         f"--algorithms: expected some of {', '.join(ALGORITHMS)}")
FLAGS = flags.FLAGS


def _default_peer_dir() -> str:
    shared = os.environ.get("TFMETA_SHARED_DIR") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
    return os.path.normpath(os.path.join(shared, "peers"))


class Settings(NamedTuple):
    """The flag values the runs need."""
    peer_python: str
    peer_dir: str
    rounds: int
    repeats: int
    inner_steps: int
    tasks: int
    batch_size: int
    remat: bool


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in the output:\n{text[-2000:]}")


def _run(cmd: list[str], cwd: str | None = None) -> dict:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return _last_json(proc.stdout)


def tfmeta_run(algorithm: str, args, remat: bool = False) -> dict:
    cmd = [sys.executable, "-m", "bench.meta_step", f"--algorithm={algorithm}",
           f"--inner_steps={args.inner_steps}", f"--tasks={args.tasks}",
           f"--batch_size={args.batch_size}", "--nojit_compile",
           f"--remat={str(remat).lower()}", f"--repeats={args.repeats}"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = _run(cmd, cwd=root)
    out["side"] = "tfmeta" + ("+remat" if remat else "")
    return out


def peer_run(algorithm: str, args, per_task: bool = False) -> dict:
    script = os.path.join(args.peer_dir, "torch_mamlgan.py")
    if not os.path.isfile(script):
        raise FileNotFoundError(f"--peer_dir={args.peer_dir} holds no torch_mamlgan.py")
    cmd = [args.peer_python, script, "--algo", algorithm, "--tasks", str(args.tasks),
           "--inner-steps", str(args.inner_steps), "--batch", str(args.batch_size),
           "--steps", str(args.repeats), "--warmup", "1", "--threads", "2"]
    if per_task:
        cmd += ["--meta-backward", "per-task"]
    out = _run(cmd, cwd=args.peer_dir)
    out["side"] = "peer" + (" per-task" if per_task else "")
    out["algorithm"] = algorithm
    return out


def compare(algorithm: str, args: Settings) -> None:
    """Prints every run of ``algorithm`` (alternating sides) and then its summary line."""
    runs: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        sides = [("tfmeta", lambda: tfmeta_run(algorithm, args)),
                 ("peer", lambda: peer_run(algorithm, args))]
        if algorithm == "maml":
            sides.append(("peer per-task", lambda: peer_run(algorithm, args, True)))
        if args.remat and algorithm != "reptile":
            sides.append(("tfmeta+remat", lambda: tfmeta_run(algorithm, args, True)))
        for side, fn in sides:
            out = fn()
            print(json.dumps(out), flush=True)
            runs.setdefault(side, []).append(out)
    summary = {"summary": algorithm, "inner_steps": args.inner_steps, "tasks": args.tasks,
               "batch_size": args.batch_size, "rounds": args.rounds}
    for side, outs in runs.items():
        summary[side] = {
            "sec_per_meta_update": statistics.median(o["sec_per_meta_update"] for o in outs),
            "peak_rss_mb": statistics.median(o["peak_rss_mb"] for o in outs)}
    ours, peer = summary["tfmeta"], summary["peer"]
    summary["speedup_vs_peer"] = peer["sec_per_meta_update"] / ours["sec_per_meta_update"]
    best_peer_rss = min(v["peak_rss_mb"] for k, v in summary.items()
                        if k.startswith("peer") and isinstance(v, dict))
    best_ours_rss = min(v["peak_rss_mb"] for k, v in summary.items()
                        if k.startswith("tfmeta") and isinstance(v, dict))
    summary["best_peer_rss_over_best_tfmeta_rss"] = best_peer_rss / best_ours_rss
    print(json.dumps(summary), flush=True)


def main(argv) -> None:
    del argv
    if not os.path.isfile(FLAGS.peer_python):
        sys.exit(f"error: --peer_python={FLAGS.peer_python} does not exist")
    args = Settings(FLAGS.peer_python, FLAGS.peer_dir or _default_peer_dir(), FLAGS.rounds,
                    FLAGS.repeats, FLAGS.inner_steps, FLAGS.tasks, FLAGS.batch_size, FLAGS.remat)
    try:
        for algorithm in FLAGS.algorithms:
            compare(algorithm, args)
    except (RuntimeError, FileNotFoundError, ValueError) as e:
        sys.exit(f"error: {common.to_flags(str(e))}")


if __name__ == "__main__":
    app.run(main)
