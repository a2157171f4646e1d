r"""``python -m export.maml_rl``: a MAML-RL run's policy as a SavedModel that adapts and acts.

Writes ``--export_dir`` (a SavedModel version directory) with the signatures
``adapt_and_act(observations [E, T, obs], actions [E, T, act], rewards [E, T], mask [E, T],
new_observations [n, obs]) -> {"actions": [n, act]}`` (one policy-gradient step on the
rollouts, then the adapted policy's mean actions) and ``act(new_observations)``; obs and
act are the run's environment's (2 and 2 for navigation2d, 17 and 6 for the half-cheetah). It loads
and runs with TensorFlow alone; a bad request fails with one line naming the argument.

Example:
    python -m export.maml_rl --workdir=runs/nav --export_dir=exports/nav/1
"""

from __future__ import annotations

import sys

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402

flags.DEFINE_string("workdir", None, "(required) Run directory of trainers.maml_rl.",
                    required=True)
flags.DEFINE_string("export_dir", None, "(required) The SavedModel directory to write, e.g. "
                    "exports/nav/1.", required=True)
common.define_verbose_flag()
FLAGS = flags.FLAGS


def main(argv) -> None:
    del argv
    common.apply_verbosity(FLAGS.verbose)
    with common.native_logs_filtered():
        from tfmeta.experiments.maml_rl.export import export_policy
    try:
        metadata = export_policy(FLAGS.workdir, FLAGS.export_dir)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"error: {e}")
    print(f"wrote {FLAGS.export_dir} (step {metadata['step']}): adapt_and_act, act")


if __name__ == "__main__":
    app.run(main)
