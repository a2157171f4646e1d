"""tfmeta.keras: Keras's fit, evaluate, callbacks, saving and adapt run the engine's meta-learners.

Real computations on a tiny synthetic 10-class dataset of 8x8 images: every
comparison is against the engine the trainers use (MetaLearner, MetricLearner,
adapt), built independently from a backbone of the same seed. Its ``fit`` under a
MirroredStrategy is checked in distribute_test.py (the engine's two-device process).
"""

import io
import os
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import tfmeta
from tfmeta import functional
from tfmeta import inner as inner_lib
from tfmeta import keras as tk
from tfmeta.algorithms import MetaLearner, adaptation_trajectory, whole_episodes
from tfmeta.classify import accuracy, classification_objective, cross_entropy, logits_of
from tfmeta.data import EpisodeSampler
from tfmeta.data.class_dataset import ClassDataset
from tfmeta.metric import MetricLearner, MetricNets
from tfmeta.nets.layers import BatchStatNorm
from tfmeta.savedmodel.common import read_metadata
from tfmeta.types import Reused

STEPS, RATE, OUTER = 2, 0.4, 1e-2
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
KINDS = {"maml": (tk.MAML, {}), "fomaml": (tk.MAML, {"first_order": True}),
         "metasgd": (tk.MetaSGD, {}), "reptile": (tk.Reptile, {})}


def _dataset() -> ClassDataset:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 6)
    images = rng.uniform(-0.5, 0.5, (60, 8, 8, 1)) + labels[:, None, None, None] * 0.05
    return ClassDataset.from_labelled_images(images.astype(np.float32), labels)


def _backbone(functional_api: bool = False, seed: int = 0, batch_norm: bool = False,
              outputs: int = 3) -> keras.Model:
    keras.utils.set_random_seed(seed)
    if functional_api:
        x = keras.Input((8, 8, 1))
        h = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(x))
        return keras.Model(x, keras.layers.Dense(outputs)(h))
    layers = [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(8)]
    layers += [keras.layers.BatchNormalization()] if batch_norm else []
    layers += [keras.layers.Activation("tanh"), keras.layers.Dense(outputs)]
    return keras.Sequential(layers)


def _meta(kind: str, backbone, outer=None, **options):
    cls, extra = KINDS[kind]
    meta = cls(backbone, inner_steps=STEPS, inner_learning_rate=RATE, **extra, **options)
    meta.compile(optimizer=outer or (keras.optimizers.SGD(OUTER) if kind == "reptile"
                                     else keras.optimizers.Adam(OUTER)),
                 loss=LOSS, metrics=["accuracy"])
    return meta


def _reference(kind: str, backbone) -> MetaLearner:
    """The trainers' engine on the same backbone: what fit must equal."""
    inner = inner_lib.sgd(RATE)
    if kind == "metasgd":
        inner = inner_lib.meta_sgd(inner_lib.meta_sgd_learning_rates(
            backbone.trainable_variables, RATE))
    outer = (lambda: keras.optimizers.SGD(OUTER)) if kind == "reptile" else \
        (lambda: keras.optimizers.Adam(OUTER))
    algorithm = {"metasgd": "maml"}.get(kind, kind)
    return MetaLearner({"model": backbone.trainable_variables},
                       classification_objective(backbone), inner, outer=outer,
                       algorithm=algorithm, inner_steps=STEPS, step_weights="final")


def _max_difference(a, b) -> float:
    return max(float(np.max(np.abs(x.numpy() - y.numpy()))) for x, y in zip(a, b))


class KerasFrontDoorTest(parameterized.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.sampler = EpisodeSampler(_dataset(), ways=3, shots=1, queries=2, episodes=2, seed=0)

    @parameterized.parameters(("maml", False), ("maml", True), ("fomaml", False),
                              ("fomaml", True), ("metasgd", False), ("reptile", True))
    def test_fit_gives_the_weights_of_as_many_engine_train_steps(self, kind, functional_api):
        backbone = _backbone(functional_api)
        meta = _meta(kind, backbone)
        history = meta.fit(tk.episodes(self.sampler, 3), epochs=1, verbose=0)
        reference = _backbone(functional_api)
        learner = _reference(kind, reference)
        batches = [self.sampler.meta_batch(s) for s in range(3)]
        if kind == "reptile":
            batches = [whole_episodes(b) for b in batches]
        losses = [float(learner.train_step(b)["meta_loss/model"]) for b in batches]
        self.assertLess(_max_difference(meta.learner.targets["model"], learner.targets["model"]),
                        1e-6)
        self.assertGreater(_max_difference(reference.trainable_variables,
                                           _backbone(functional_api).trainable_variables), 1e-3)
        self.assertEqual(int(meta.optimizer.iterations.numpy()), 3)
        self.assertAlmostEqual(history.history["loss"][0], np.mean(losses), places=5)
        self.assertIn("accuracy", history.history)

    def test_fit_without_metrics_skips_the_scoring_pass_and_updates_alike(self):
        plain = tk.MAML(_backbone(), inner_steps=STEPS, inner_learning_rate=RATE)
        plain.compile(optimizer=keras.optimizers.Adam(OUTER), loss=LOSS)
        history = plain.fit(tk.episodes(self.sampler, 2), epochs=1, verbose=0).history
        scored = _meta("maml", _backbone())
        scored.fit(tk.episodes(self.sampler, 2), epochs=1, verbose=0)
        self.assertEqual(sorted(history), ["loss"])
        self.assertLess(_max_difference(plain.variables, scored.variables), 1e-7)

    def test_protonet_fit_equals_the_metric_learner_and_evaluate_its_trainer_scoring(self):
        embedding = _backbone(outputs=4, batch_norm=True)
        proto = tk.ProtoNet(embedding, ways=3)
        proto.compile(optimizer=keras.optimizers.Adam(OUTER), metrics=["accuracy"])
        history = proto.fit(tk.episodes(self.sampler, 3), epochs=1, verbose=0)
        reference = _backbone(outputs=4, batch_norm=True)
        learner = MetricLearner(MetricNets("protonet", reference), 3,
                                keras.optimizers.Adam(OUTER))
        metrics = [learner.train_step(self.sampler.meta_batch(s)) for s in range(3)]
        self.assertLess(_max_difference(embedding.variables, reference.variables), 1e-6)
        self.assertAlmostEqual(history.history["loss"][0],
                               np.mean([float(m["meta_loss/model"]) for m in metrics]), places=5)
        self.assertAlmostEqual(history.history["accuracy"][0],
                               np.mean([float(m["accuracy"]) for m in metrics]), places=5)
        # evaluate: moving averages, prototypes of each test episode (any number of ways)
        wide = EpisodeSampler(_dataset(), ways=4, shots=2, queries=1, seed=5)
        got = proto.evaluate(tk.test_episodes(wide, 3), verbose=0, return_dict=True)
        accuracies = []
        for i in range(3):
            episode = wide(i)
            scores = proto.adapt(episode.support_images, episode.support_labels, ways=4)(
                episode.query_images)
            accuracies.append(float(accuracy(scores, episode.query_labels)))
        self.assertAlmostEqual(got["accuracy"], np.mean(accuracies), places=5)

    def test_evaluate_adapts_to_each_episode_like_the_engine(self):
        backbone = _backbone()
        meta = _meta("maml", backbone, eval_inner_steps=3)
        got = meta.evaluate(tk.episodes(self.sampler, 2, start=100), verbose=0,
                            return_dict=True)
        objective = classification_objective(backbone)
        losses, accuracies = [], []
        for step in (100, 101):
            tasks = self.sampler.meta_batch(step)
            for i in range(2):
                support = tuple(t[i] for t in tasks.inner.batch)
                query_images, query_labels = (t[i] for t in tasks.val.batch)
                start = {"model": [tf.convert_to_tensor(v) for v in backbone.trainable_variables]}
                params = adaptation_trajectory(
                    objective, start, Reused(support), inner_lib.sgd(RATE), inner_steps=3,
                    seed=tf.zeros([2], tf.int32))[-1]["model"]
                logits = logits_of(backbone, params, query_images)
                losses.append(float(cross_entropy(logits, query_labels)))
                accuracies.append(float(accuracy(logits, query_labels)))
        self.assertAlmostEqual(got["loss"], np.mean(losses), places=5)
        self.assertAlmostEqual(got["accuracy"], np.mean(accuracies), places=5)

    @parameterized.parameters(False, True)
    def test_adapt_returns_a_plain_keras_model_of_the_adapted_parameters(self, batch_norm):
        backbone = _backbone(batch_norm=batch_norm)
        meta = _meta("metasgd", backbone)
        meta.fit(tk.episodes(self.sampler, 1), epochs=1, verbose=0)
        episode = self.sampler(7)
        adapted = meta.adapt(episode.support_images, episode.support_labels)
        self.assertIsInstance(adapted, keras.Model)
        self.assertNotIsInstance(adapted, tk.GradientMetaLearner)
        params = meta.adapted_params(episode.support_images, episode.support_labels)
        want = functional.apply(backbone, params, episode.query_images, training=True)
        np.testing.assert_allclose(adapted(episode.query_images).numpy(), want.numpy(),
                                   atol=1e-5)
        np.testing.assert_allclose(adapted.predict(episode.query_images, verbose=0),
                                   want.numpy(), atol=1e-5)
        before = functional.apply(backbone, functional.params_of(backbone),
                                  episode.query_images, training=True)
        self.assertGreater(float(np.max(np.abs(want.numpy() - before.numpy()))), 1e-4)

    def test_adapt_takes_inner_steps_and_steps_warns_once_with_the_same_numbers(self):
        meta = _meta("maml", _backbone())
        episode = self.sampler(7)
        support = (episode.support_images, episode.support_labels)

        def call(fn):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = fn()
            return out, [str(w.message) for w in caught
                         if issubclass(w.category, DeprecationWarning)]

        for name in ("adapted_params", "adapt"):
            method = getattr(meta, name)
            new, warned = call(lambda: method(*support, inner_steps=1))
            self.assertEqual(warned, [])
            positional, _ = call(lambda: method(*support, 1))
            old, warned = call(lambda: method(*support, steps=1))
            self.assertEqual(warned, ["`steps` is deprecated: use `inner_steps`"], name)
            if name == "adapt":
                new, positional, old = (m(episode.query_images) for m in (new, positional, old))
            for got in (positional, old):
                for g, w in zip(tf.nest.flatten(got), tf.nest.flatten(new), strict=True):
                    np.testing.assert_array_equal(g, w)
            with self.assertRaisesRegex(TypeError, r"both `inner_steps` and `steps`"):
                method(*support, inner_steps=1, steps=1)

    def test_backup_and_restore_interrupted_and_resumed_equals_uninterrupted(self):
        def train(backup, interrupt_at=None):
            meta = _meta("metasgd", _backbone(batch_norm=True))
            callbacks = [keras.callbacks.BackupAndRestore(backup)]
            if interrupt_at is not None:
                class Interrupt(keras.callbacks.Callback):
                    def on_epoch_begin(self, epoch, logs=None):
                        if epoch == interrupt_at:
                            raise KeyboardInterrupt
                callbacks.append(Interrupt())
            try:
                meta.fit(tk.episodes(self.sampler, start=meta.optimizer.iterations), epochs=3,
                         steps_per_epoch=2, callbacks=callbacks, verbose=0)
            except KeyboardInterrupt:
                return None
            return meta

        with tempfile.TemporaryDirectory() as tmp:
            whole = train(os.path.join(tmp, "whole"))
            self.assertIsNone(train(os.path.join(tmp, "cut"), interrupt_at=2))
            resumed = train(os.path.join(tmp, "cut"))
        self.assertEqual(int(resumed.optimizer.iterations.numpy()), 6)
        self.assertLess(_max_difference(whole.variables, resumed.variables), 1e-6)
        self.assertLess(_max_difference(whole.optimizer.variables, resumed.optimizer.variables),
                        1e-6)
        fresh = _meta("metasgd", _backbone(batch_norm=True))
        self.assertGreater(_max_difference(whole.variables, fresh.variables), 1e-3)

    def test_model_checkpoint_and_early_stopping_work_on_validation_episodes(self):
        meta = _meta("maml", _backbone())
        with tempfile.TemporaryDirectory() as tmp:
            best = os.path.join(tmp, "best.keras")
            history = meta.fit(
                tk.episodes(self.sampler, start=meta.optimizer.iterations), epochs=6,
                steps_per_epoch=1, validation_data=tk.test_episodes(self.sampler, 2),
                callbacks=[keras.callbacks.ModelCheckpoint(best, monitor="val_accuracy",
                                                           save_best_only=True),
                           keras.callbacks.EarlyStopping(monitor="loss", patience=1,
                                                         min_delta=1e6)],
                verbose=0)
            self.assertEqual(len(history.history["loss"]), 2)     # stopped after patience 1
            self.assertIn("val_accuracy", history.history)
            loaded = keras.saving.load_model(best)
        self.assertIsInstance(loaded, tk.MAML)
        best_epoch = int(np.argmax(history.history["val_accuracy"])) + 1   # one update per epoch
        self.assertEqual(int(loaded.optimizer.iterations.numpy()), best_epoch)

    @parameterized.parameters("metasgd", "protonet")
    def test_keras_file_round_trip_restores_config_weights_optimizer_and_scores(self, kind):
        if kind == "protonet":
            meta = tk.ProtoNet(_backbone(outputs=4), ways=3)
            meta.compile(optimizer=keras.optimizers.Adam(OUTER), metrics=["accuracy"])
        else:
            meta = _meta(kind, _backbone(functional_api=True), eval_inner_steps=3)
        meta.fit(tk.episodes(self.sampler, 2), epochs=1, verbose=0)
        test = tk.episodes(self.sampler, 2, start=50)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "meta.keras")
            meta.save(path)
            loaded = keras.saving.load_model(path)
        self.assertIs(type(loaded), type(meta))
        self.assertEqual(loaded.get_config()["name"], meta.get_config()["name"])
        self.assertLess(_max_difference(meta.variables, loaded.variables), 1e-7)
        self.assertLess(_max_difference(meta.optimizer.variables, loaded.optimizer.variables),
                        1e-7)
        if kind == "metasgd":
            self.assertEqual(loaded.eval_inner_steps, 3)
            self.assertEqual(len(loaded.inner_learning_rates), 4)
        want = meta.evaluate(test, verbose=0, return_dict=True)
        got = loaded.evaluate(test, verbose=0, return_dict=True)
        for key in want:
            self.assertAlmostEqual(got[key], want[key], places=6)

    def test_summary_shows_the_backbone_and_counts_the_meta_sgd_rates(self):
        backbone = _backbone()
        lines = io.StringIO()
        meta = _meta("metasgd", backbone)
        meta.summary(print_fn=lambda line, **_: lines.write(line + "\n"))
        params = sum(int(np.prod(v.shape)) for v in backbone.trainable_variables)
        text = lines.getvalue()
        self.assertIn(backbone.name, text)
        self.assertIn(f"{2 * params:,}", text.replace("\u2502", " "))   # weights and rates

    def test_second_order_over_keras_batch_norm_warns_and_batch_stat_norm_does_not(self):
        with self.assertWarnsRegex(UserWarning, "BatchNormalization, whose second derivative"):
            _meta("maml", _backbone(batch_norm=True))
        keras.utils.set_random_seed(0)
        exact = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(8), BatchStatNorm(),
                                  keras.layers.Dense(3)])
        for kind, backbone in (("fomaml", _backbone(batch_norm=True)), ("maml", exact)):
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                _meta(kind, backbone)

    def test_errors_are_one_clear_line(self):
        with self.assertRaisesRegex(ValueError, r"MAML.compile needs loss="):
            tk.MAML(_backbone()).compile(optimizer="adam")
        with self.assertRaisesRegex(ValueError, "ProtoNet's loss is fixed"):
            tk.ProtoNet(_backbone(), ways=3).compile(optimizer="adam", loss="mse")
        with self.assertRaisesRegex(ValueError, "backbone must be a built keras.Model"):
            tk.MAML(keras.Sequential([keras.layers.Dense(3)]))
        with self.assertRaisesRegex(ValueError, "`inner_steps` must be"):
            tk.MAML(_backbone(), inner_steps=0)
        with self.assertRaisesRegex(ValueError, r"call `compile\(\)`"):
            tk.MAML(_backbone()).evaluate(tk.episodes(self.sampler, 1), verbose=0)
        with self.assertRaisesRegex(ValueError, "format must be 'tf_saved_model'"):
            _meta("maml", _backbone()).export("unused", format="h5")
        with self.assertRaisesRegex(ValueError, "meta_batches must be an int >= 1"):
            tk.episodes(self.sampler, 0)

    def test_the_package_exposes_the_front_door_on_first_use(self):
        self.assertIs(tfmeta.keras.MAML, tk.MAML)
        self.assertIs(tfmeta.keras.episodes, tk.episodes)


class KerasAnilTest(parameterized.TestCase):
    """``adapt_only="head"``: fit, adapt and export adapt only the backbone's last Dense layer."""

    @classmethod
    def setUpClass(cls):
        cls.sampler = EpisodeSampler(_dataset(), ways=3, shots=1, queries=2, episodes=2, seed=0)

    @parameterized.parameters("maml", "metasgd")
    def test_fit_equals_the_engine_adapting_the_head_and_adapt_keeps_the_body(self, kind):
        backbone = _backbone(functional_api=True)
        meta = _meta(kind, backbone, adapt_only="head")
        self.assertEqual(meta.selection(), {"model": (2, 3)})
        if kind == "metasgd":
            self.assertEqual([tuple(v.shape) for v in meta.inner_learning_rates], [(8, 3), (3,)])
        meta.fit(tk.episodes(self.sampler, 2), epochs=1, verbose=0)
        reference = _backbone(functional_api=True)
        inner = inner_lib.sgd(RATE)
        if kind == "metasgd":
            inner = inner_lib.meta_sgd(inner_lib.meta_sgd_learning_rates(
                reference.trainable_variables[2:], RATE))
        learner = MetaLearner({"model": reference.trainable_variables},
                              classification_objective(reference), inner,
                              outer=lambda: keras.optimizers.Adam(OUTER), inner_steps=STEPS,
                              step_weights="final", adapt_only={"model": (2, 3)})
        for step in range(2):
            learner.train_step(self.sampler.meta_batch(step))
        self.assertLess(_max_difference(meta.learner.targets["model"], learner.targets["model"]),
                        1e-6)
        episode = self.sampler(7)
        params = meta.adapted_params(episode.support_images, episode.support_labels)
        initial = backbone.trainable_variables
        self.assertEqual(_max_difference(params[:2], initial[:2]), 0.0)
        self.assertGreater(_max_difference(params[2:], initial[2:]), 1e-4)
        self.assertEqual(tk.MAML.from_config(meta.get_config()).adapt_only, "head")

    def test_the_export_adapts_the_head_as_adapted_params_does(self):
        meta = _meta("maml", _backbone(), adapt_only="head")
        episode = self.sampler(3)
        with tempfile.TemporaryDirectory() as tmp:
            meta.export(tmp, verbose=False, max_support=8, max_query=8)
            served = tf.saved_model.load(tmp).signatures["adapt"](
                support_images=tf.convert_to_tensor(episode.support_images, tf.float32),
                support_labels=tf.cast(episode.support_labels, tf.int32),
                seed=tf.constant(0, tf.int32))
            self.assertEqual(read_metadata(tmp)["adapt"], "head")
        want = meta.adapted_params(episode.support_images, episode.support_labels)  # no draws
        got = [served[k] for k in sorted(served)]
        self.assertEqual(len(got), len(want))
        by_shape = {tuple(w.shape): w for w in want}
        for g in got:
            np.testing.assert_allclose(g.numpy(), by_shape[tuple(g.shape)].numpy(), atol=1e-6)

    def test_reptile_and_unknown_selections_are_refused_in_one_line(self):
        with self.assertRaisesRegex(ValueError, "adapt_only .ANIL. applies to algorithm='maml' "
                                                "or 'fomaml', not 'reptile'"):
            tk.Reptile(_backbone(), adapt_only="head")
        with self.assertRaisesRegex(ValueError, r"`adapt_only`='body' is not one of "
                                                r"\[None, 'head'\]"):
            tk.MAML(_backbone(), adapt_only="body")


if __name__ == "__main__":
    tf.test.main()
