"""tfmeta.keras.MAML: Keras's fit and evaluate run the engine's meta-update and adaptation."""

import numpy as np
import keras
import tensorflow as tf
from absl.testing import parameterized

from tfmeta import inner as inner_lib
from tfmeta import keras as tk
from tfmeta.algorithms import MetaLearner, adapt
from tfmeta.classify import accuracy, classification_objective, cross_entropy, logits_of
from tfmeta.data import EpisodeSampler
from tfmeta.data.class_dataset import ClassDataset
from tfmeta.types import Reused

STEPS, RATE, OUTER = 2, 0.4, 1e-2


def _dataset() -> ClassDataset:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 6)
    images = rng.uniform(-0.5, 0.5, (60, 8, 8, 1)) + labels[:, None, None, None] * 0.05
    return ClassDataset.from_labelled_images(images.astype(np.float32), labels)


def _backbone(functional: bool, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    if functional:
        x = keras.Input((8, 8, 1))
        h = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(x))
        return keras.Model(x, keras.layers.Dense(3)(h))
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)])


def _meta(backbone, first_order=False) -> tk.MAML:
    meta = tk.MAML(backbone, inner_steps=STEPS, inner_learning_rate=RATE,
                   first_order=first_order)
    meta.compile(optimizer=keras.optimizers.Adam(OUTER),
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                 metrics=["accuracy"])
    return meta


class KerasMAMLTest(parameterized.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.sampler = EpisodeSampler(_dataset(), ways=3, shots=1, queries=2, episodes=2, seed=0)

    @parameterized.product(functional=[False, True], first_order=[False, True])
    def test_fit_gives_the_weights_of_as_many_meta_learner_train_steps(self, functional,
                                                                      first_order):
        backbone = _backbone(functional)
        history = _meta(backbone, first_order).fit(tk.episodes(self.sampler, 3), epochs=1,
                                                    verbose=0)
        reference = _backbone(functional)
        learner = MetaLearner({"model": reference.trainable_variables},
                              classification_objective(reference), inner_lib.sgd(RATE),
                              outer=lambda: keras.optimizers.Adam(OUTER),
                              algorithm="fomaml" if first_order else "maml", steps=STEPS,
                              step_weights="final")
        losses = [float(learner.train_step(self.sampler.meta_batch(s))["meta_loss/model"])
                  for s in range(3)]
        moved = 0.0
        for got, want, start in zip(backbone.trainable_variables, reference.trainable_variables,
                                    _backbone(functional).trainable_variables):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-6)
            moved = max(moved, float(np.max(np.abs(want.numpy() - start.numpy()))))
        self.assertGreater(moved, 1e-3)
        # fit's loss is the epoch's mean meta-loss
        self.assertAlmostEqual(history.history["loss"][0], np.mean(losses), places=5)
        self.assertIn("accuracy", history.history)

    def test_evaluate_adapts_to_each_episode_like_the_engine(self):
        backbone = _backbone(False)
        meta = _meta(backbone)
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
                params = adapt(objective, start, Reused(support), inner_lib.sgd(RATE),
                               steps=STEPS, seed=tf.zeros([2], tf.int32))[-1]["model"]
                logits = logits_of(backbone, params, query_images)
                losses.append(float(cross_entropy(logits, query_labels)))
                accuracies.append(float(accuracy(logits, query_labels)))
        self.assertAlmostEqual(got["loss"], np.mean(losses), places=5)
        self.assertAlmostEqual(got["accuracy"], np.mean(accuracies), places=5)

    def test_fit_without_a_compiled_loss_is_one_clear_error(self):
        meta = tk.MAML(_backbone(False))
        with self.assertRaisesRegex(ValueError, "MAML.compile needs loss="):
            meta.compile(optimizer="adam")


if __name__ == "__main__":
    tf.test.main()
