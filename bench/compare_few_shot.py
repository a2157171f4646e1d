"""tfmeta against the PyTorch peer on the few-shot MAML meta-update, alternating in one session.

``../shared/peers/torch_maml_omniglot.py`` is the same Conv-4 MAML meta-update in PyTorch
(torch.func). For each workload of ``--configs`` this runs ``--rounds`` rounds (default 3) of:
``bench.few_shot_step --tasks_mode=loop`` (and ``vectorized`` with ``--vectorized``), then the
peer with ``--tasks-mode vmap`` (its fastest form; with batch norm its second-order
meta-gradient is wrong, see the peer's ``--check``), ``loop`` (exact) and ``per-task`` (exact,
one task's graph alive at a time: its leanest form), each in its own process. The protocol is
:mod:`bench.fair`'s: both sides get every setting on their command lines (algorithm, ways,
shots, queries, tasks, inner steps, ``--inner_lr``, ``--outer_lr``, ``--warmup``,
``--repeats``) and the same ``--threads``; each side's JSON must echo what it reports; the
load average is recorded before and after each round, a round started above
``--loaded_above`` is marked ``loaded``. Images are 28x28x1 on both sides (fixed, no flag).

Prints every run's JSON line (``side``: ``tfmeta loop``, ``tfmeta vectorized``, ``peer vmap``,
``peer loop``, ``peer per-task``; ``round``), one line per round with its loads, and one summary
line per workload: medians over rounds per side (seconds per meta-update, peak RSS, RSS before
the first update, working set) and, per tfmeta form, its speed-up against each peer form, the
peer's fastest and fastest exact form, and the peer's leanest working set over tfmeta's
(above 1: tfmeta faster / leaner).

The peer needs its own virtual environment (never a project dependency)::

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    python -m bench.compare_few_shot --peer_python=/tmp/torchvenv/bin/python

``--configs`` lists workloads as ``ALGORITHM-<N>w<K>s-<Q>q-<T>t-<S>k`` (N-way K-shot, Q
queries per class, T tasks, S inner steps); the default is the issue's two references and
first-order MAML on the first: ``maml-5w1s-15q-32t-1k, maml-20w1s-15q-16t-5k,
fomaml-5w1s-15q-32t-1k``. ``protonet-<N>w<K>s-<Q>q-<T>t-0k`` times a Prototypical-network
update (``bench.few_shot_step --algorithm=protonet``) against ``torch_protonet.py`` (in
``--peer_dir`` if it holds one, else this project's ``bench/peers/``): one form on each side,
every episode's images through the embedding in one batch (``tfmeta loop``, ``peer batched``),
no inner learning rate; e.g. ``protonet-60w1s-5q-1t-0k``, the CPU recipe's training episode.
"""

from __future__ import annotations

import os
import re
import sys
from typing import NamedTuple

from absl import app, flags

from bench import fair
from trainers import common

PEER_SCRIPT = "torch_maml_omniglot.py"
PEER_FORMS = ("vmap", "loop", "per-task")
# ProtoNet's peer: in --peer_dir if it holds one, else this project's bench/peers/
PROTONET_PEER = "torch_protonet.py"
PROTONET_FORMS = ("batched",)
CONFIG_PATTERN = re.compile(r"^(maml|fomaml|protonet)-(\d+)w(\d+)s-(\d+)q-(\d+)t-(\d+)k$")
DEFAULT_CONFIGS = ["maml-5w1s-15q-32t-1k", "maml-20w1s-15q-16t-5k", "fomaml-5w1s-15q-32t-1k"]
# settings the peers take on their command lines but do not echo in their JSON
PEER_UNREPORTED = ("inner_lr", "outer_lr", "warmup", "repeats")
PROTONET_UNREPORTED = ("warmup", "repeats")


class Config(NamedTuple):
    """One workload's shape, as ``--configs`` writes it."""
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
                             "with ALGORITHM maml, fomaml or protonet (e.g. "
                             "maml-5w1s-15q-32t-1k)")
        algorithm, *numbers = match.groups()
        config = cls(algorithm, *(int(n) for n in numbers))
        if config.ways < 2 or min(config[2:5]) < 1:
            raise ValueError(f"--configs: {text!r} needs ways >= 2 and every count >= 1")
        if (config.inner_steps == 0) != (algorithm == "protonet"):
            raise ValueError(f"--configs: {text!r} needs 0k for protonet (no inner loop) and "
                             "at least 1k for maml and fomaml")
        return config


def _configs_valid(texts: list[str]) -> bool:
    for text in texts:
        try:
            Config.parse(text)
        except ValueError as e:
            raise flags.ValidationError(str(e)) from None  # absl shows it on one line
    return bool(texts)


fair.define_flags()
flags.adopt_module_key_flags(fair)  # --help lists the shared flags with these
flags.DEFINE_list("configs", DEFAULT_CONFIGS, "Workloads, ALGORITHM-<N>w<K>s-<Q>q-<T>t-<S>k "
                  "each (N-way K-shot, Q queries per class, T tasks, S inner steps).")
flags.DEFINE_float("inner_lr", 0.4, "Learning rate of the inner SGD steps, given to both sides.")
flags.DEFINE_float("outer_lr", 1e-3, "Learning rate of the outer Adam, given to both sides.")
flags.DEFINE_integer("warmup", 2, "Untimed meta-updates per process before --repeats, on both "
                     "sides.", lower_bound=0)
flags.DEFINE_bool("vectorized", False, "Also time tfmeta with --tasks_mode=vectorized.")
flags.register_validator("configs", _configs_valid, "--configs: expected at least one workload")
flags.register_validator("inner_lr", lambda v: v > 0, "--inner_lr: expected a number > 0")
flags.register_validator("outer_lr", lambda v: v > 0, "--outer_lr: expected a number > 0")
FLAGS = flags.FLAGS


def workload(config: Config, settings: fair.Settings, inner_lr: float, outer_lr: float,
             warmup: int) -> dict:
    """Every setting both sides get, named as ``bench.few_shot_step``'s flags (protonet has no
    inner learning rate)."""
    inner = {} if config.algorithm == "protonet" else {"inner_lr": inner_lr}
    return dict(config._asdict(), **inner, outer_lr=outer_lr, warmup=warmup,
                repeats=settings.repeats, threads=settings.threads)


def tfmeta_side(work: dict, settings: fair.Settings, tasks_mode: str) -> fair.Side:
    """``python -m bench.few_shot_step`` with every setting of ``work``."""
    cmd = [settings.tfmeta_python, "-m", "bench.few_shot_step",
           *(f"--{name}={value}" for name, value in work.items()), f"--tasks_mode={tasks_mode}"]
    return fair.Side(f"tfmeta {tasks_mode}", cmd, fair.ROOT, dict(work, tasks_mode=tasks_mode))


def peer_side(work: dict, settings: fair.Settings, tasks_mode: str) -> fair.Side:
    """The peer script with every setting of ``work`` (``repeats`` is its ``--steps``)."""
    names = {"repeats": "steps"}
    protonet = work["algorithm"] == "protonet"
    script = peer_script(settings, PROTONET_PEER if protonet else PEER_SCRIPT)
    cmd = [settings.peer_python, script,
           *(f"--{names.get(name, name).replace('_', '-')}={value}"
             for name, value in work.items()), f"--tasks-mode={tasks_mode}"]
    # torch.func's vmap gets the second-order meta-gradient wrong with batch norm
    exact = tasks_mode != "vmap" or work["algorithm"] == "fomaml"
    return fair.Side(f"peer {tasks_mode}", cmd, os.path.dirname(script),
                     dict(work, tasks_mode=tasks_mode),
                     unreported=PROTONET_UNREPORTED if protonet else PEER_UNREPORTED,
                     exact=exact)


def peer_script(settings: fair.Settings, name: str) -> str:
    """``name`` in ``--peer_dir``, else in this project's bench/peers/ (ProtoNet's peer)."""
    path = os.path.join(settings.peer_dir, name)
    return path if os.path.isfile(path) else os.path.join(fair.ROOT, "bench", "peers", name)


def sides(work: dict, settings: fair.Settings, vectorized: bool) -> list[fair.Side]:
    """tfmeta's forms, then every peer form: the order within a round."""
    protonet = work["algorithm"] == "protonet"   # one batched form on each side
    modes = ("loop", "vectorized") if vectorized and not protonet else ("loop",)
    return ([tfmeta_side(work, settings, mode) for mode in modes]
            + [peer_side(work, settings, form)
               for form in (PROTONET_FORMS if protonet else PEER_FORMS)])


def main(argv) -> None:
    del argv
    settings = fair.settings_from_flags(PEER_SCRIPT)
    try:
        for text in FLAGS.configs:
            work = workload(Config.parse(text), settings, FLAGS.inner_lr, FLAGS.outer_lr,
                            FLAGS.warmup)
            fair.compare(text.strip(), work, sides(work, settings, FLAGS.vectorized), settings)
    except (RuntimeError, ValueError) as e:
        sys.exit(f"error: {common.to_flags(str(e))}")


if __name__ == "__main__":
    app.run(main)
