"""tfmeta against the PyTorch peer on the reference MAML-GAN workload, alternating in one session.

``../shared/peers/torch_mamlgan.py`` implements the reference MAML-GAN meta-update in PyTorch
(torch.func, as a learn2learn or higher user would write it). For each algorithm this runs
``--rounds`` rounds (default 3) of: one ``bench.meta_step`` process (and, with ``--remat``, one
of ``bench.meta_step --remat``, its lowest-memory form, for maml and fomaml), then the peer's
``default`` form (``--meta-backward end``, the spec's: one backward over every task's graph)
and, for maml and fomaml, its ``per-task`` form (``--meta-backward per-task``: each task's share
back-propagated at once: its leanest form). The protocol is
:mod:`bench.fair`'s: both sides get the algorithm, tasks, inner steps, batch size, ``--repeats``
and the same ``--threads`` on their command lines, the peer ``--loss wgan-gp`` and ``--warmup
1`` (``bench.meta_step``'s fixed loss and warm-up); the settings the peer cannot be given (its
optimizers: inner RMSprop 1e-4, rho 0.9, eps 1e-7; outer RMSprop 1e-4; Reptile's Adam 1e-4,
betas 0.5 / 0.999, and outer step 0.1; first or second order) are checked in both sides' JSON
against :data:`OPTIMIZERS`. The load average is recorded before and after each round, a round
started above ``--loaded_above`` is marked ``loaded``.

Prints every run's JSON line (``side``: ``tfmeta``, ``tfmeta remat``, ``peer default``,
``peer per-task``; ``round``), one line per round with its loads, and one summary line per
algorithm: medians over rounds per side (seconds per meta-update, peak RSS, RSS before the
first update, working set) and, per tfmeta form, its speed-up against each peer form and the
peer's fastest, and the peer's leanest working set over tfmeta's (above 1: tfmeta faster /
leaner).

The peer needs its own virtual environment (never a project dependency)::

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    python -m bench.compare_peer --peer_python=/tmp/torchvenv/bin/python --remat
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from bench import fair
from trainers import common

PEER_SCRIPT = "torch_mamlgan.py"
ALGORITHMS = ("maml", "fomaml", "reptile")
LOSS = "wgan-gp"
WARMUP = 1  # bench.meta_step's one warm-up update
_RMSPROP = dict(inner_lr=1e-4, inner_rho=0.9, inner_eps=1e-7, outer_lr=1e-4, outer_rho=0.9,
                outer_eps=1e-7)
# the reference's optimizers (the peer's constants; bench.meta_step reports the same keys)
OPTIMIZERS = {"maml": dict(_RMSPROP, first_order=False),
              "fomaml": dict(_RMSPROP, first_order=True),
              "reptile": dict(inner_lr=1e-4, inner_beta_1=0.5, inner_beta_2=0.999,
                              inner_eps=1e-7, outer_lr=0.1)}

fair.define_flags()
flags.adopt_module_key_flags(fair)  # --help lists the shared flags with these
flags.DEFINE_list("algorithms", list(ALGORITHMS), "Algorithms to compare, some of "
                  f"{', '.join(ALGORITHMS)}.")
flags.DEFINE_integer("inner_steps", 10, "k: inner steps per task, on both sides.", lower_bound=1)
flags.DEFINE_integer("tasks", 4, "N: tasks per meta-update, on both sides.", lower_bound=1)
flags.DEFINE_integer("batch_size", 32, "B: images and latents per inner step, on both sides.",
                     lower_bound=1)
flags.DEFINE_bool("remat", False, "Also time tfmeta --remat (its lowest-memory form) for maml "
                  "and fomaml.")
flags.register_validator("algorithms", lambda names: set(names) <= set(ALGORITHMS),
                         f"--algorithms: expected some of {', '.join(ALGORITHMS)}")
FLAGS = flags.FLAGS


def workload(algorithm: str, settings: fair.Settings, inner_steps: int, tasks: int,
             batch_size: int) -> dict:
    """Every setting of one algorithm's workload, named as ``bench.meta_step`` reports them."""
    return dict(algorithm=algorithm, tasks=tasks, inner_steps=inner_steps, batch_size=batch_size,
                repeats=settings.repeats, threads=settings.threads, loss=LOSS, warmup=WARMUP,
                **OPTIMIZERS[algorithm])


def tfmeta_side(work: dict, settings: fair.Settings, remat: bool = False) -> fair.Side:
    """``python -m bench.meta_step`` with every setting it takes as a flag."""
    passed = ("algorithm", "inner_steps", "tasks", "batch_size", "repeats", "threads")
    cmd = [settings.tfmeta_python, "-m", "bench.meta_step",
           *(f"--{name}={work[name]}" for name in passed), "--nojit_compile",
           f"--remat={str(remat).lower()}"]
    return fair.Side("tfmeta remat" if remat else "tfmeta", cmd, fair.ROOT,
                     dict(work, remat=remat, jit_compile=False))


def peer_reported(record: dict) -> dict:
    """The settings a ``torch_mamlgan.py`` record reports, named as :func:`workload`'s."""
    config = record.get("config", {})
    names = {"tasks": "tasks", "inner_steps": "inner_steps", "batch_size": "batch",
             "repeats": "steps", "warmup": "warmup", "loss": "loss", "threads": "threads",
             "meta_backward": "meta_backward"}
    out = {name: config[key] for name, key in names.items() if key in config}
    if "algo" in record:
        out["algorithm"] = record["algo"]
    inner, outer = config.get("inner_opt", {}), config.get("outer_opt", {})
    if inner.get("name") == "Adam":
        betas = inner.get("betas", [None, None])
        out.update(inner_lr=inner.get("lr"), inner_beta_1=betas[0], inner_beta_2=betas[1],
                   inner_eps=inner.get("eps"), outer_lr=config.get("reptile_eps_outer"))
    elif inner:
        out.update(inner_lr=inner.get("lr"), inner_rho=inner.get("rho"),
                   inner_eps=inner.get("eps"), first_order=not inner.get("create_graph"),
                   outer_lr=outer.get("lr"), outer_rho=outer.get("alpha"),
                   outer_eps=outer.get("eps"))
    return {name: value for name, value in out.items() if value is not None}


def peer_side(work: dict, settings: fair.Settings, per_task: bool = False) -> fair.Side:
    """The peer script with every setting it takes as a flag; ``per_task``: its leanest form."""
    cmd = [settings.peer_python, os.path.join(settings.peer_dir, PEER_SCRIPT),
           "--algo", work["algorithm"], "--tasks", str(work["tasks"]),
           "--inner-steps", str(work["inner_steps"]), "--batch", str(work["batch_size"]),
           "--steps", str(work["repeats"]), "--warmup", str(work["warmup"]),
           "--loss", work["loss"], "--threads", str(work["threads"])]
    expected = dict(work)
    if work["algorithm"] != "reptile":  # reptile has no meta-backward pass
        expected["meta_backward"] = "per-task" if per_task else "end"
        cmd += ["--meta-backward", expected["meta_backward"]]
    return fair.Side("peer per-task" if per_task else "peer default", cmd, settings.peer_dir,
                     expected, reported=peer_reported)


def sides(work: dict, settings: fair.Settings, remat: bool) -> list[fair.Side]:
    """tfmeta's forms, then every peer form: the order within a round."""
    meta = work["algorithm"] != "reptile"
    return ([tfmeta_side(work, settings)]
            + ([tfmeta_side(work, settings, remat=True)] if remat and meta else [])
            + [peer_side(work, settings)]
            + ([peer_side(work, settings, per_task=True)] if meta else []))


def main(argv) -> None:
    del argv
    settings = fair.settings_from_flags(PEER_SCRIPT)
    try:
        for algorithm in FLAGS.algorithms:
            work = workload(algorithm, settings, FLAGS.inner_steps, FLAGS.tasks,
                            FLAGS.batch_size)
            fair.compare(algorithm, work, sides(work, settings, FLAGS.remat), settings)
    except (RuntimeError, ValueError) as e:
        sys.exit(f"error: {common.to_flags(str(e))}")


if __name__ == "__main__":
    app.run(main)
