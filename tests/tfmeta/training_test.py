"""The meta-training loop: checkpoints, resume, stop on request, any learner, divergence stop."""

import os
import tempfile
import threading

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner
from tfmeta.training import Diverged, LambdaCallback, Periodic, meta_train
from tfmeta.types import Task


def _setup():
    models, objective = toys.toy_regressor(dtype="float32")
    learner = MetaLearner(toys.variables(models), objective, inner_lib.sgd(0.05),
                          outer=lambda: keras.optimizers.Adam(1e-2), inner_steps=1)
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

    def test_the_divergence_error_ends_with_the_callers_hint(self):
        for hint, ending in ((None, r"ckpt-2\. Lower the learning rates\.$"),
                             ("Try a smaller step.", r"ckpt-2\. Try a smaller step\.$")):
            _, learner, checkpoint = _setup()
            with tempfile.TemporaryDirectory() as workdir:
                kwargs = {} if hint is None else {"diverged_hint": hint}
                with self.assertRaisesRegex(Diverged, ending):
                    meta_train(learner, _sampler(poison_from=3), workdir=workdir, steps=6,
                               checkpoint=checkpoint, checkpoint_every=2, **kwargs)

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
                       checkpoint_every=3, callbacks=[LambdaCallback(lambda s, m: seen.append(s))])
            self.assertEqual(seen, [4, 5, 6])
            for x, y in zip(model_a.trainable_variables, model_c.trainable_variables):
                np.testing.assert_array_equal(x.numpy(), y.numpy())
            events = tf.io.gfile.glob(os.path.join(a, "tensorboard", "events.*"))
            self.assertNotEmpty(events)

    def test_a_state_file_naming_missing_files_is_an_error_that_keeps_the_run(self):
        # The newest checkpoint's files gone (a hand-edited copy of a run): resuming refuses,
        # naming the file and the kept checkpoints, instead of starting a new run beside them.
        _, learner, checkpoint = _setup()
        with tempfile.TemporaryDirectory() as workdir:
            meta_train(learner, _sampler(), workdir=workdir, steps=4, checkpoint=checkpoint,
                       checkpoint_every=2)
            directory = os.path.join(workdir, "checkpoints")
            for path in tf.io.gfile.glob(os.path.join(directory, "ckpt-4.*")):
                os.remove(path)
            before = sorted(os.listdir(directory))
            _, learner, checkpoint = _setup()
            with self.assertRaisesRegex(ValueError, r"checkpoints/checkpoint names ckpt-4 as the "
                                        r"newest checkpoint, but its files are missing \(kept: "
                                        r"ckpt-0, ckpt-2\); point its model_checkpoint_path"):
                meta_train(learner, _sampler(), workdir=workdir, steps=6,
                           checkpoint=checkpoint, checkpoint_every=2)
            self.assertEqual(sorted(os.listdir(directory)), before)   # nothing written
            self.assertEqual(int(learner.step.numpy()), 0)

    def test_negative_steps_raise(self):
        _, learner, checkpoint = _setup()
        with self.assertRaisesRegex(ValueError, "steps must be a non-negative int, got -1"):
            meta_train(learner, _sampler(), workdir=tempfile.mkdtemp(), steps=-1,
                       checkpoint=checkpoint)


class _Supervised(tf.Module):
    """A learner without an inner loop: one Adam step on the batch's MSE per update."""

    def __init__(self):
        super().__init__()
        models, self.objective = toys.toy_regressor(dtype="float32")
        self.model = models["model"]
        self.optimizer = keras.optimizers.Adam(1e-2)
        self.optimizer.build(self.model.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)

    @tf.function
    def train_step(self, batch):
        x, y = batch
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self.model(x) - y))
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        self.step.assign_add(1)
        return {"loss": loss}

    def checkpoint(self):
        return tf.train.Checkpoint(model=self.model, opt=self.optimizer, step=self.step)


def _supervised_batches(step):
    x = tf.random.stateless_normal([8, toys.FEATURES], tf.stack([tf.cast(step, tf.int32), 1]))
    return x, tf.reduce_sum(x, axis=1, keepdims=True)


def _weights_of(model):
    return [v.numpy().copy() for v in model.trainable_variables]


class LearnerProtocolAndStopTest(parameterized.TestCase):

    def test_learner_without_inner_loop_checkpoints_and_resumes_to_the_same_weights(self):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            straight = _Supervised()
            meta_train(straight, _supervised_batches, workdir=a, steps=6,
                       checkpoint=straight.checkpoint(), checkpoint_every=3)
            first = _Supervised()
            meta_train(first, _supervised_batches, workdir=b, steps=3,
                       checkpoint=first.checkpoint(), checkpoint_every=3)
            second = _Supervised()
            result = meta_train(second, _supervised_batches, workdir=b, steps=6,
                                checkpoint=second.checkpoint(), checkpoint_every=3)
            self.assertEqual((result.step, result.interrupted), (6, False))
            self.assertIn("loss", result)
            for x, y in zip(_weights_of(straight.model), _weights_of(second.model)):
                np.testing.assert_array_equal(x, y)

    def test_stop_saves_at_the_current_step_and_the_rerun_ends_with_the_same_weights(self):
        model_a, learner_a, ckpt_a = _setup()
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            meta_train(learner_a, _sampler(), workdir=a, steps=6, checkpoint=ckpt_a,
                       checkpoint_every=100)
            model_b, learner_b, ckpt_b = _setup()
            stop, events = threading.Event(), []

            def on_step(step, metrics):
                if step == 4:
                    stop.set()   # as a signal handler would, during update 4

            result = meta_train(learner_b, _sampler(), workdir=b, steps=6, checkpoint=ckpt_b,
                                checkpoint_every=100, stop=stop, callbacks=[LambdaCallback(
                                    on_step, lambda name, step: events.append((name, step)))])
            self.assertEqual((result.step, result.interrupted), (4, True))
            self.assertTrue(result.checkpoint.endswith("ckpt-4"), result.checkpoint)
            self.assertEqual(events, [("start", 0), ("interrupted", 4)])
            model_c, learner_c, ckpt_c = _setup()
            seen = []
            result = meta_train(learner_c, _sampler(), workdir=b, steps=6, checkpoint=ckpt_c,
                                checkpoint_every=100, callbacks=[LambdaCallback(
                                    lambda s, m: seen.append(s),
                                    lambda name, step: events.append((name, step)))])
            self.assertEqual(seen, [5, 6])
            self.assertEqual(events[2:], [("start", 4), ("saved", 6)])
            self.assertFalse(result.interrupted)
            for x, y in zip(model_a.trainable_variables, model_c.trainable_variables):
                np.testing.assert_array_equal(x.numpy(), y.numpy())

    def test_stop_set_before_the_first_update_changes_nothing(self):
        model, learner, checkpoint = _setup()
        before = _weights_of(model)
        with tempfile.TemporaryDirectory() as workdir:
            result = meta_train(learner, _sampler(), workdir=workdir, steps=3,
                                checkpoint=checkpoint, stop=lambda: True)
            self.assertEqual((result.step, result.interrupted), (0, True))
            self.assertTrue(result.checkpoint.endswith("ckpt-0"), result.checkpoint)
        for x, y in zip(before, _weights_of(model)):
            np.testing.assert_array_equal(x, y)

    def test_periodic_callback_runs_every_period_and_after_the_last_update_not_when_stopped(self):
        _, learner, checkpoint = _setup()
        seen, stopped_seen = [], []
        with tempfile.TemporaryDirectory() as workdir:
            meta_train(learner, _sampler(), workdir=workdir, steps=5, checkpoint=checkpoint,
                       callbacks=[Periodic(2, seen.append)])
        self.assertEqual(seen, [2, 4, 5])
        _, learner, checkpoint = _setup()
        with tempfile.TemporaryDirectory() as workdir:
            stop = threading.Event()
            result = meta_train(
                learner, _sampler(), workdir=workdir, steps=5, checkpoint=checkpoint, stop=stop,
                callbacks=[LambdaCallback(lambda s, m: stop.set() if s == 3 else None),
                           Periodic(0, stopped_seen.append)])
        self.assertEqual((result.step, stopped_seen), (3, []))

    def test_learning_rates_are_summarized_when_the_learner_has_them(self):
        _, learner, checkpoint = _setup()
        with tempfile.TemporaryDirectory() as workdir:
            meta_train(learner, _sampler(), workdir=workdir, steps=2, checkpoint=checkpoint,
                       summary_every=1)
            tags = set()
            for event in tf.io.gfile.glob(os.path.join(workdir, "tensorboard", "events.*")):
                for record in tf.compat.v1.train.summary_iterator(event):
                    tags.update(v.tag for v in record.summary.value)
        self.assertIn("outer_lr/model", tags)
