"""tfmeta against the PyTorch peer on the few-shot MAML meta-update, alternating in one session.

``../shared/peers/torch_maml_omniglot.py`` is the same Conv-4 MAML meta-update in PyTorch
(torch.func). For each configuration this runs ``--rounds`` rounds of: ``bench.few_shot_step``
with ``--tasks_mode=loop`` (and ``vectorized`` with ``--vectorized``), then the peer with
``--tasks-mode vmap`` (its fastest form; its second-order meta-gradient is wrong with BatchNorm,
see the peer's ``--check``) and ``--tasks-mode loop`` (its exact form), each in its own process,
so that machine noise hits both sides alike. Prints every run's JSON line (``side``:
``tfmeta loop``, ``tfmeta vectorized``, ``peer vmap``, ``peer loop``) and then one summary line
per configuration: medians over rounds of each side's seconds per meta-update and peak RSS, and

* ``peer_fastest_over_tfmeta_loop``: the faster peer mode's seconds over tfmeta's loop (the
  issue's goal: at least 1.5), and the same for ``vectorized`` when run;
* ``peer_loop_rss_over_tfmeta_rss``: the peer loop's peak RSS over tfmeta's (goal: at least 1).

The peer needs its own virtual environment (never a project dependency)::

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    python -m bench.compare_few_shot --peer_python=/tmp/torchvenv/bin/python --rounds=3

``--configs`` lists configurations as ``ALGORITHM-<N>w<K>s-<Q>q-<T>t-<S>k`` (N-way K-shot, Q
queries per class, T tasks, S inner steps); the default is the issue's two references and
first-order MAML on the first: ``maml-5w1s-15q-32t-1k, maml-20w1s-15q-16t-5k,
fomaml-5w1s-15q-32t-1k``. ``--peer_python``, ``--peer_dir``, ``--rounds`` and ``--repeats``
(timed meta-updates per process, after ``--warmup``) are the flags of ``bench.compare_peer``,
whose process helpers this reuses.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
from typing import NamedTuple

from absl import app, flags

from trainers import common

from bench.compare_peer import _default_peer_dir, _run

PEER_SCRIPT = "torch_maml_omniglot.py"
CONFIG_PATTERN = re.compile(r"^(maml|fomaml)-(\d+)w(\d+)s-(\d+)q-(\d+)t-(\d+)k$")
DEFAULT_CONFIGS = ["maml-5w1s-15q-32t-1k", "maml-20w1s-15q-16t-5k", "fomaml-5w1s-15q-32t-1k"]
SHARED_FLAGS = ("peer_python", "peer_dir", "rounds", "repeats")
# bench.compare_peer's MAML-GAN flags: defined by the import, meaningless here
FOREIGN_FLAGS = ("algorithms", "inner_steps", "tasks", "batch_size", "remat")


class Config(NamedTuple):
    """One workload: the flags both sides take."""
    algorithm: str
    ways: int
    shots: int
    queries: int
    tasks: int
    inner_steps: int

    @classmethod
    def parse(cls, text: str) -> "Config":
        """``"maml-5w1s-15q-32t-1k"`` -> Config; ValueError naming the text otherwise."""
        match = CONFIG_PATTERN.match(text.strip())
        if not match:
            raise ValueError(f"--configs: {text!r} is not ALGORITHM-<N>w<K>s-<Q>q-<T>t-<S>k "
                             "with ALGORITHM maml or fomaml (e.g. maml-5w1s-15q-32t-1k)")
        algorithm, *numbers = match.groups()
        config = cls(algorithm, *(int(n) for n in numbers))
        if config.ways < 2 or min(config[1:]) < 1:
            raise ValueError(f"--configs: {text!r} needs ways >= 2 and every count >= 1")
        return config


def _configs_valid(texts: list[str]) -> bool:
    for text in texts:
        try:
            Config.parse(text)
        except ValueError as e:
            raise flags.ValidationError(str(e)) from None  # absl shows it on one line
    return bool(texts)


flags.DEFINE_list("configs", DEFAULT_CONFIGS, "Workloads, ALGORITHM-<N>w<K>s-<Q>q-<T>t-<S>k "
                  "each (N-way K-shot, Q queries per class, T tasks, S inner steps).")
flags.DEFINE_bool("vectorized", False, "Also time tfmeta with --tasks_mode=vectorized.")
flags.DEFINE_integer("warmup", 2, "Untimed meta-updates per process, before --repeats.",
                     lower_bound=0)
flags.register_validator("configs", _configs_valid, "--configs: expected at least one workload")
for _name in SHARED_FLAGS:
    flags.declare_key_flag(_name)  # --help lists them with this module's flags
FLAGS = flags.FLAGS


class Settings(NamedTuple):
    """The flag values the runs need."""
    peer_python: str
    peer_dir: str
    rounds: int
    repeats: int
    warmup: int
    vectorized: bool


def _common_args(config: Config, dash: str) -> list[str]:
    names = ("algorithm", "ways", "shots", "queries", "tasks", "inner_steps")
    return [f"--{name.replace('_', dash)}={value}" for name, value in zip(names, config)]


def tfmeta_run(config: Config, args: Settings, tasks_mode: str) -> dict:
    """One ``bench.few_shot_step`` process; its JSON record with ``side`` set."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, "-m", "bench.few_shot_step", *_common_args(config, "_"),
           f"--tasks_mode={tasks_mode}", f"--warmup={args.warmup}", f"--repeats={args.repeats}"]
    return dict(_run(cmd, cwd=root), side=f"tfmeta {tasks_mode}")


def peer_run(config: Config, args: Settings, tasks_mode: str) -> dict:
    """One peer process; its JSON record with ``side`` set."""
    script = os.path.join(args.peer_dir, PEER_SCRIPT)
    if not os.path.isfile(script):
        raise FileNotFoundError(f"--peer_dir={args.peer_dir} holds no {PEER_SCRIPT}")
    cmd = [args.peer_python, script, *_common_args(config, "-"), f"--tasks-mode={tasks_mode}",
           f"--warmup={args.warmup}", f"--steps={args.repeats}"]
    return dict(_run(cmd, cwd=args.peer_dir), side=f"peer {tasks_mode}")


def summarize(name: str, runs: dict[str, list[dict]], rounds: int) -> dict:
    """Medians per side and the issue's two ratios (above 1: tfmeta faster / smaller)."""
    summary = {"summary": name, **Config.parse(name)._asdict(), "rounds": rounds}
    for side, outs in runs.items():
        summary[side] = {
            "sec_per_meta_update": statistics.median(o["sec_per_meta_update"] for o in outs),
            "peak_rss_mb": statistics.median(o["peak_rss_mb"] for o in outs)}
    fastest_peer = min(summary[s]["sec_per_meta_update"] for s in ("peer vmap", "peer loop"))
    for side in ("tfmeta loop", "tfmeta vectorized"):
        if side in summary:
            key = f"peer_fastest_over_{side.replace(' ', '_')}"
            summary[key] = fastest_peer / summary[side]["sec_per_meta_update"]
    summary["peer_loop_rss_over_tfmeta_rss"] = (summary["peer loop"]["peak_rss_mb"]
                                                / summary["tfmeta loop"]["peak_rss_mb"])
    return summary


def compare(name: str, args: Settings) -> dict:
    """Prints every run of the workload ``name`` (alternating sides), then its summary line."""
    config = Config.parse(name)
    sides = [("tfmeta loop", lambda: tfmeta_run(config, args, "loop"))]
    if args.vectorized:
        sides.append(("tfmeta vectorized", lambda: tfmeta_run(config, args, "vectorized")))
    sides += [("peer vmap", lambda: peer_run(config, args, "vmap")),
              ("peer loop", lambda: peer_run(config, args, "loop"))]
    runs: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        for side, fn in sides:
            out = fn()
            print(json.dumps(out), flush=True)
            runs.setdefault(side, []).append(out)
    summary = summarize(name, runs, args.rounds)
    print(json.dumps(summary), flush=True)
    return summary


def main(argv) -> None:
    del argv
    present = [f"--{name}" for name in FOREIGN_FLAGS if FLAGS[name].present]
    if present:
        sys.exit(f"error: {', '.join(present)}: flags of bench.compare_peer (the MAML-GAN "
                 "workload), unused here; give the workloads with --configs")
    if not os.path.isfile(FLAGS.peer_python):
        sys.exit(f"error: --peer_python={FLAGS.peer_python} does not exist")
    args = Settings(FLAGS.peer_python, FLAGS.peer_dir or _default_peer_dir(), FLAGS.rounds,
                    FLAGS.repeats, FLAGS.warmup, FLAGS.vectorized)
    if not os.path.isfile(os.path.join(args.peer_dir, PEER_SCRIPT)):
        sys.exit(f"error: --peer_dir={args.peer_dir} holds no {PEER_SCRIPT}")
    try:
        for text in FLAGS.configs:
            compare(text.strip(), args)
    except (RuntimeError, FileNotFoundError, ValueError) as e:
        sys.exit(f"error: {common.to_flags(str(e))}")


if __name__ == "__main__":
    app.run(main)
