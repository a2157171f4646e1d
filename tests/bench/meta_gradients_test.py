"""bench.meta_gradients on a real (tiny) MAML-GAN run: the documented JSON and what it measures.

The run is trained by ``trainers.maml_gan`` and measured by ``bench.meta_gradients``, both
run in this process (their ``main``; :func:`tests.export.fixtures.run_cli` for the
benchmark): nothing here is about a process (no time or memory is measured), and one
process loads the dataset once.
"""

import contextlib
import io
import json
import logging
import math
import tempfile
import unittest
import warnings

from absl import logging as absl_logging

from tests.export.fixtures import run_cli
from tests.shared import tfds_dir
from trainers import maml_gan

TINY = ["--dataset=mnist", "--nodownload", "--preset=cpu", "--algorithm=fomaml",
        "--generator_width=4", "--discriminator_width=4", "--latent_dim=8", "--inner_steps=2",
        "--meta_batch_size=1", "--batch_size=4", "--steps=2", "--checkpoint_every=1000",
        "--sample_every=1000", "--summary_every=1000", "--grid_samples=1", "--grid_steps=1",
        "--inner_lr=4e-3", "--inner_epsilon=1e-4"]
VARIANTS = "run@final,rmsprop:4e-3:1e-2,sgd:1e-5"


class MetaGradientsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.workdir = cls._tmp.name + "/run"
        data = f"--data_dir={tfds_dir()}"
        err = io.StringIO()
        verbosity, tf_level = absl_logging.get_verbosity(), logging.getLogger("tensorflow").level
        try:   # the trainer's log settings end with it (as run_cli's do)
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(err):
                status = maml_gan.TRAINER.main([f"--workdir={cls.workdir}", data, *TINY])
        finally:
            absl_logging.set_verbosity(verbosity)
            logging.getLogger("tensorflow").setLevel(tf_level)
        assert status == 0, err.getvalue()[-3000:]
        code, out = run_cli("bench.meta_gradients", f"--workdir={cls.workdir}", data,
                            "--tasks=1", f"--variants={VARIANTS}", "--steps=0,2")
        assert code in (0, None), code
        cls.rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def _row(self, step, variant):
        [row] = [r for r in self.rows if r["step"] == step and r["variant"] == variant]
        return row

    def test_one_line_per_checkpoint_and_variant_with_the_documented_keys(self):
        self.assertEqual(sorted((r["step"], r["variant"]) for r in self.rows),
                         sorted((s, v) for s in (0, 2) for v in VARIANTS.split(",")))
        for row in self.rows:
            for player in ("generator", "discriminator"):
                m = row[player]
                self.assertLessEqual(abs(m["cos"]), 1.0)
                self.assertGreater(m["first_norm"], 0.0)
                self.assertGreater(m["second_norm"], 0.0)
                self.assertTrue(set(m["descent"]) == {"first", "second"})
                self.assertTrue(all(math.isfinite(x) for x in m["descent"].values()))
                # one entry per trainable variable of the player: [name, cos, first, second]
                self.assertTrue(all(len(layer) == 4 for layer in m["layers"]))
                self.assertGreaterEqual(len(m["layers"]), 4)
        self.assertEqual(self._row(2, "run@final")["step_weights"], "final")
        self.assertEqual(self._row(2, "sgd:1e-5")["step_weights"], "uniform")  # the run's

    def test_second_order_terms_vanish_with_the_inner_learning_rate(self):
        # The adapted weights' Jacobian is a product of (I - lr * Hessian): with SGD at
        # lr 1e-5 the second-order meta-gradient is the first-order one up to O(lr) terms.
        for step in (0, 2):
            for player in ("generator", "discriminator"):
                m = self._row(step, "sgd:1e-5")[player]
                self.assertGreater(m["cos"], 0.999, (step, player, m))
                self.assertLess(m["extra_ratio"], 1e-2, (step, player, m))
                self.assertNotIn("gain", m)

    def test_rmsprop_gain_is_bounded_by_lr_over_eps_and_reported_per_inner_step(self):
        for step in (0, 2):
            for player in ("generator", "discriminator"):
                gain = self._row(step, "rmsprop:4e-3:1e-2")[player]["gain"]
                self.assertAlmostEqual(gain["lr_over_eps"], 0.4)
                self.assertEqual(len(gain["steps"]), 2)       # --inner_steps of the run
                for median, p90, p99, top in gain["steps"]:
                    self.assertTrue(0.0 <= median <= p90 <= p99 <= top <= 0.4 * 1.001,
                                    (median, p90, p99, top))
                # Variant "run" is the run's own inner RMSprop, its --inner_epsilon included
                # (lr 4e-3 / eps 1e-4 = 40, not the default eps 1e-7's 40000), and it
                # reaches far larger gains than eps 1e-2's bound.
                run = self._row(step, "run@final")[player]["gain"]
                self.assertAlmostEqual(run["lr_over_eps"], 40.0, places=6)
                self.assertGreater(max(s[3] for s in run["steps"]), 0.4)
                self.assertLessEqual(max(s[3] for s in run["steps"]), 40.0 * 1.001)

    def test_a_bad_variant_is_one_error_line(self):
        code, out = run_cli("bench.meta_gradients", f"--workdir={self.workdir}",
                            "--variants=rmsprop:1")
        self.assertIsInstance(code, str)   # sys.exit("error: ..."): one line, status 1
        self.assertEqual(len(code.splitlines()), 1, code)
        self.assertTrue(code.startswith("error: "), code)
        self.assertIn("'rmsprop:1'", code)
        self.assertEqual(out, "")


if __name__ == "__main__":
    unittest.main()
