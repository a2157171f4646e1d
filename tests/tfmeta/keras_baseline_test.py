"""tfmeta.keras.Baseline: fit on labelled mini-batches is the trainer's BaselineLearner; episodes
are scored, adapted and exported by its head.

The tiny synthetic 10-class dataset of 8x8 images and the small backbones of keras_test.py;
the fine-tuning head with 5 steps.
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tests.tfmeta.keras_test import OUTER, _backbone, _dataset, _max_difference
from tfmeta import keras as tk
from tfmeta.classify import accuracy
from tfmeta.data import EpisodeSampler, ImageBatchSampler
from tfmeta.metric import BaselineLearner
from tfmeta.savedmodel.common import read_metadata


def _baseline(head="finetune", **options) -> tk.Baseline:
    base = tk.Baseline(_backbone(outputs=4, batch_norm=True), classes=10, head=head,
                       finetune_steps=5, **options)
    base.compile(optimizer=keras.optimizers.Adam(OUTER), metrics=["accuracy"])
    return base


class KerasBaselineTest(absltest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.batches = ImageBatchSampler(_dataset(), batch_size=8, seed=0)
        cls.test = EpisodeSampler(_dataset(), ways=4, shots=2, queries=1, seed=5)
        cls.base = _baseline()
        cls.initial = [v.numpy() for v in cls.base.classifier.weights]
        cls.history = cls.base.fit(tk.batches(cls.batches, 3), epochs=1, verbose=0)

    def test_fit_on_labelled_batches_equals_the_trainers_baseline_learner(self):
        reference = _backbone(outputs=4, batch_norm=True)
        learner = BaselineLearner(reference, 10, keras.optimizers.Adam(OUTER))
        for variable, value in zip(learner.classifier.weights, self.initial):
            variable.assign(value)
        metrics = [learner.train_step(self.batches(s)) for s in range(3)]
        self.assertLess(_max_difference(self.base.embedding.variables, reference.variables),
                        1e-6)
        self.assertLess(_max_difference(self.base.classifier.weights,
                                        learner.classifier.weights), 1e-6)
        self.assertAlmostEqual(self.history.history["loss"][0],
                               np.mean([float(m["meta_loss/model"]) for m in metrics]), places=5)
        self.assertEqual(int(self.base.optimizer.iterations.numpy()), 3)

    def test_weight_decay_is_the_trainers_l2_term_through_the_optimizer(self):
        # The trainer's `weight_decay` (lambda * w added to the gradients before Adam), not
        # Keras's decoupled one: the same 3 steps as BaselineLearner with the same lambda,
        # away from the run without it, and kept by the config.
        base = _baseline(weight_decay=0.5)
        for variable, value in zip(base.classifier.weights, self.initial):
            variable.assign(value)
        start = [v.numpy() for v in base.embedding.variables]
        base.fit(tk.batches(self.batches, 3), epochs=1, verbose=0)
        reference = _backbone(outputs=4, batch_norm=True)
        for variable, value in zip(reference.variables, start):
            variable.assign(value)
        learner = BaselineLearner(reference, 10, keras.optimizers.Adam(OUTER), weight_decay=0.5)
        for variable, value in zip(learner.classifier.weights, self.initial):
            variable.assign(value)
        for s in range(3):
            learner.train_step(self.batches(s))
        self.assertLess(_max_difference(base.classifier.weights, learner.classifier.weights),
                        1e-6)
        self.assertLess(_max_difference(base.embedding.variables, reference.variables), 1e-6)
        self.assertGreater(_max_difference(base.classifier.weights,
                                           self.base.classifier.weights), 1e-4)
        self.assertEqual(tk.Baseline.from_config(base.get_config()).weight_decay, 0.5)

    def test_evaluate_on_episodes_scores_each_by_the_adapted_head_any_ways(self):
        got = self.base.evaluate(tk.test_episodes(self.test, 3), verbose=0, return_dict=True)
        accuracies = []
        for i in range(3):
            episode = self.test(i)
            scores = self.base.adapt(episode.support_images, episode.support_labels)(
                episode.query_images)
            self.assertEqual(scores.shape, (4, 4))
            accuracies.append(float(accuracy(scores, episode.query_labels)))
        self.assertAlmostEqual(got["accuracy"], np.mean(accuracies), places=5)
        # Plain labelled batches: accuracy over the 10 training classes.
        plain = self.base.evaluate(tk.batches(self.batches, 2, start=50), verbose=0,
                                   return_dict=True)
        self.assertTrue(0.0 <= plain["accuracy"] <= 1.0, plain)

    def test_the_export_fits_the_head_in_the_graph_as_adapt_does(self):
        episode = self.test(7)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "baseline")
            self.base.export(path, max_support=12, max_query=12, max_ways=4, verbose=False)
            metadata = read_metadata(path)
            served = tf.saved_model.load(path).signatures["adapt_and_classify"](
                support_images=episode.support_images, support_labels=episode.support_labels,
                query_images=episode.query_images, seed=tf.constant(0))["probabilities"]
        self.assertEqual({k: metadata[k] for k in ("algorithm", "family", "baseline_head",
                                                   "finetune_steps", "trained_classes")},
                         {"algorithm": "Baseline", "family": "metric",
                          "baseline_head": "finetune", "finetune_steps": 5,
                          "trained_classes": 10})
        python = tf.nn.softmax(self.base.adapt(episode.support_images, episode.support_labels)(
            episode.query_images))
        np.testing.assert_allclose(served.numpy(), python.numpy(), atol=1e-5)

    def test_keras_file_round_trip_restores_the_head_weights_and_optimizer(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "baseline.keras")
            self.base.save(path)
            loaded = keras.saving.load_model(path)
        self.assertIs(type(loaded), tk.Baseline)
        self.assertEqual((loaded.head, loaded.finetune_steps, loaded.classes), ("finetune", 5, 10))
        self.assertLess(_max_difference(self.base.variables, loaded.variables), 1e-7)
        self.assertLess(_max_difference(self.base.optimizer.variables,
                                        loaded.optimizer.variables), 1e-7)
        images = self.batches(9)[0]
        np.testing.assert_allclose(loaded(images).numpy(), self.base(images).numpy(), atol=1e-6)

    def test_errors_are_one_clear_line(self):
        with self.assertRaisesRegex(ValueError, r"^`head`='knn' is not one of \['centroid', "):
            tk.Baseline(_backbone(outputs=4), classes=10, head="knn")
        with self.assertRaisesRegex(ValueError, r"^`weight_decay` must be a finite number >= 0, "
                                                r"got -0.1$"):
            tk.Baseline(_backbone(outputs=4), classes=10, weight_decay=-0.1)
        with self.assertRaisesRegex(ValueError, "^Baseline's loss is fixed"):
            tk.Baseline(_backbone(outputs=4), classes=10).compile(optimizer="adam", loss="mse")
        with self.assertRaisesRegex(ValueError, "^Baseline.fit takes labelled mini-batches"):
            _baseline("centroid").fit(tk.test_episodes(self.test, 1), verbose=0)
        with self.assertRaisesRegex(ValueError, "^count must be an int >= 1"):
            tk.batches(self.batches, 0)


if __name__ == "__main__":
    absltest.main()
