"""Every few-shot learner learns on a tiny folder dataset, end to end (issue 33 item 6).

The whole experiment for each learner (the folder's 12 classes split into 8 meta-train and 4
held-out classes, training, the curve's held-out episodes) for a few dozen updates of a small
Conv-4 at 3 ways, 1 shot: the held-out accuracy must end clearly above chance (1/3) and clearly
above where it started, both points scored on the same 30 held-out episodes. MAML, Prototypical
networks and the baseline have theirs in few_shot_test.py and few_shot_baseline_test.py; the
learners' losses and meta-gradients are checked in tests/tfmeta/metric and tests/tfmeta/algorithms.
"""

import os
import tempfile

from absl.testing import absltest, parameterized

from tests.tfmeta.experiments.few_shot_test import config, write_class_folders
from tfmeta.experiments import few_shot


def write_block_class_folders(folder: str, seed: int = 5) -> str:
    """12 classes of 6 images that share 60% of one pattern, under pixel noise of deviation 40: a
    randomly initialized Conv-4 scores the held-out classes at 0.3-0.6, and every learner below
    ends at 0.68-1.0."""
    return write_class_folders(folder, classes=12, per_class=6, shared=0.6, noise=40.0, seed=seed)


# Per learner: the updates and the overrides of a tiny run (learning rates for a few dozen
# updates rather than a recipe's thousands). Reptile's outer step is its interpolation, and it
# needs more than one inner step (with one, its update is a joint-training gradient step).
# Siamese networks are not here: in runs this cheap their held-out accuracy rises or falls
# with the seed (their pair scorer starts as a random-signed weighting of |e1 - e2|).
LEARNERS = (
    ("fomaml", dict(steps=20, outer_lr=1e-2)),
    ("metasgd", dict(steps=20, outer_lr=1e-2)),
    ("reptile", dict(steps=20, outer_lr=1.0, inner_steps=3)),
    ("matching", dict(steps=40, outer_lr=3e-2)),
    ("relation", dict(steps=40, outer_lr=3e-2)),
)


class EveryLearnerLearnsTest(parameterized.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.folder = write_block_class_folders(os.path.join(cls.tmp.name, "classes"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()
        super().tearDownClass()

    @parameterized.named_parameters(*[(name, name, extra) for name, extra in LEARNERS])
    def test_a_tiny_run_scores_held_out_classes_clearly_above_chance(self, algorithm, extra):
        workdir = os.path.join(self.tmp.name, algorithm)
        values = dict(algorithm=algorithm, filters=8, eval_episodes=30, checkpoint_every=1000)
        values.update(extra)
        values["eval_every"] = values["summary_every"] = values["steps"]
        few_shot.run(config(self.folder, **values), workdir)
        curve = few_shot.read_curve(workdir)
        self.assertEqual([p["step"] for p in curve], [0, values["steps"]])
        start, end = curve[0]["accuracy"], curve[-1]["accuracy"]
        # Chance is 1/3; the same 30 held-out episodes score both points.
        self.assertGreater(end, 0.55, curve)
        self.assertGreater(end, start + 0.15, curve)


if __name__ == "__main__":
    absltest.main()
