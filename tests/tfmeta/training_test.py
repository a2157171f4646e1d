"""The meta-training loop: checkpoints, resume, and the divergence stop."""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner
from tfmeta.training import Diverged, meta_train
from tfmeta.types import Task


def _setup():
    models, objective = toys.toy_regressor(dtype="float32")
    learner = MetaLearner(toys.variables(models), objective, inner_lib.sgd(0.05),
                          outer=lambda: keras.optimizers.Adam(1e-2), steps=1)
    checkpoint = tf.train.Checkpoint(model=models["model"], step=learner.step,
                                     opt=learner.outer["model"])
    return models["model"], learner, checkpoint


def _sampler(poison_from=None):
    def sample(step):
        task = toys.regression_task(1, seed=3, dtype=tf.float32)
        x, y = task.val
        if poison_from is not None:
            y = tf.where(step >= poison_from, y * np.nan, y)
        one = Task(inner=task.inner, val=(x, y), seed=task.seed)
        return tf.nest.map_structure(lambda t: t[None], one)
    return sample


class MetaTrainTest(parameterized.TestCase):

    def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(self):
        model, learner, checkpoint = _setup()
        with tempfile.TemporaryDirectory() as workdir:
            with self.assertRaisesRegex(Diverged, r"meta-update 3 diverged .*non-finite.*ckpt-2"):
                meta_train(learner, _sampler(poison_from=3), workdir=workdir, steps=6,
                           checkpoint=checkpoint, checkpoint_every=2)
            self.assertEqual(int(learner.step.numpy()), 3)  # step 3 was never applied
            weights = [v.numpy() for v in model.trainable_variables]
            self.assertTrue(all(np.all(np.isfinite(w)) for w in weights))
            latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
            self.assertTrue(latest.endswith("ckpt-2"), latest)

    def test_resume_continues_from_checkpoint_to_the_same_weights(self):
        model_a, learner_a, ckpt_a = _setup()
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            meta_train(learner_a, _sampler(), workdir=a, steps=6, checkpoint=ckpt_a,
                       checkpoint_every=3)
            model_b, learner_b, ckpt_b = _setup()
            meta_train(learner_b, _sampler(), workdir=b, steps=3, checkpoint=ckpt_b,
                       checkpoint_every=3)
            model_c, learner_c, ckpt_c = _setup()
            seen = []
            meta_train(learner_c, _sampler(), workdir=b, steps=6, checkpoint=ckpt_c,
                       checkpoint_every=3, on_step=lambda s, m: seen.append(s))
            self.assertEqual(seen, [4, 5, 6])
            for x, y in zip(model_a.trainable_variables, model_c.trainable_variables):
                np.testing.assert_array_equal(x.numpy(), y.numpy())
            events = tf.io.gfile.glob(os.path.join(a, "tensorboard", "events.*"))
            self.assertNotEmpty(events)

    def test_negative_steps_raise(self):
        _, learner, checkpoint = _setup()
        with self.assertRaisesRegex(ValueError, "steps must be a non-negative int, got -1"):
            meta_train(learner, _sampler(), workdir=tempfile.mkdtemp(), steps=-1,
                       checkpoint=checkpoint)
