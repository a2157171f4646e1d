"""tfmeta.keras and the command-line trainers agree: same evaluation, same SavedModel.

The trainer's own objects (``few_shot.build`` of a tiny 3-way 1-shot Conv-4
config on a synthetic folder dataset, its ``episode_accuracies`` and
``classifier_api.classifier_module``) are wrapped by the Keras front door
*without copying anything*: the Keras model holds the trainer's Conv-4 (or
embedding), so the same weights feed both. Meta-SGD's learned rates are set to
distinctly non-uniform values in both (an export that ignored them would
differ); evaluation and export adapt with ``eval_inner_steps=2``.
"""

import os

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from export import api, classifier_api
from tests.export import fixtures
from tests.export.classifier_test import write_class_folders
from tfmeta import keras as tk
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import few_shot

WAYS, SHOTS, QUERIES, EPISODES = 3, 1, 2, 4
TINY = dict(dataset="folder", ways=WAYS, shots=SHOTS, queries=QUERIES, filters=8,
            inner_steps=1, eval_inner_steps=2, meta_batch_size=2)


def trainer_and_keras(algorithm: str):
    """``(setup, splits, keras model)`` sharing the trainer's variables."""
    folder = write_class_folders(os.path.join(fixtures.TMP, "keras_parity_classes"))
    config = few_shot.FewShotConfig(folder=folder, algorithm=algorithm, **TINY)
    splits = few_shot.load_data(config)
    setup = few_shot.build(config, splits.train.image_shape)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if algorithm == "protonet":
        meta = tk.ProtoNet(setup.nets.embedding, ways=config.training_ways)
        meta.compile(optimizer="adam", metrics=["accuracy"])
        return setup, splits, meta
    meta = tk.MetaSGD(setup.model, inner_steps=config.inner_steps,
                      inner_learning_rate=config.inner_lr,
                      eval_inner_steps=config.eval_inner_steps)
    meta.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    rng = np.random.default_rng(7)
    for mine, theirs in zip(meta.inner_learning_rates, setup.inner.variables):
        theirs.assign(config.inner_lr * rng.uniform(0.2, 5.0, theirs.shape).astype("float32"))
        mine.assign(theirs)
    return setup, splits, meta


class KerasTrainerParityTest(parameterized.TestCase):

    @parameterized.parameters("metasgd", "protonet")
    def test_evaluate_equals_the_trainers_evaluation_on_the_same_episodes(self, algorithm):
        setup, splits, meta = trainer_and_keras(algorithm)
        want = few_shot.episode_accuracies(setup, splits.test, episodes=EPISODES,
                                           inner_steps=setup.config.eval_inner_steps, seed=3)
        sampler = EpisodeSampler(splits.test, ways=WAYS, shots=SHOTS, queries=QUERIES, seed=3)
        got = meta.evaluate(tk.test_episodes(sampler, EPISODES, batch=2), verbose=0,
                            return_dict=True)
        self.assertAlmostEqual(got["accuracy"], float(np.mean(want)), places=6)

    @parameterized.parameters("metasgd", "protonet")
    def test_exported_savedmodel_equals_the_trainers_export_on_the_same_weights(self, algorithm):
        setup, splits, meta = trainer_and_keras(algorithm)
        base = os.path.join(fixtures.TMP, "keras_parity_exports", algorithm)
        module = classifier_api.classifier_module(setup)
        api.save_module(module, os.path.join(base, "trainer"), module.metadata())
        meta.export(os.path.join(base, "keras"), verbose=False)
        trainer = tf.saved_model.load(os.path.join(base, "trainer"))
        keras_export = tf.saved_model.load(os.path.join(base, "keras"))
        self.assertEqual(sorted(keras_export.signatures), sorted(trainer.signatures))
        mine, theirs = (api.read_metadata(os.path.join(base, d)) for d in ("keras", "trainer"))
        for key in ("family", "ways", "max_ways", "image_shape", "image_range",
                    "image_tolerance", "adapt_steps", "state", "signatures"):
            self.assertEqual(mine[key], theirs[key], key)
        episode = EpisodeSampler(splits.test, ways=WAYS, shots=2, queries=3, seed=11)(0)
        inputs = dict(support_images=episode.support_images,
                      support_labels=episode.support_labels, seed=tf.constant(5))
        both = [model.signatures["adapt_and_classify"](query_images=episode.query_images,
                                                       **inputs)
                for model in (keras_export, trainer)]
        np.testing.assert_allclose(both[0]["probabilities"].numpy(),
                                   both[1]["probabilities"].numpy(), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(both[0]["labels"].numpy(), both[1]["labels"].numpy())
        if algorithm == "protonet":   # any number of classes: a 2-way request too
            two = episode.support_labels < 2
            two_way = [model.signatures["adapt_and_classify"](
                support_images=episode.support_images[two],
                support_labels=episode.support_labels[two], query_images=episode.query_images,
                seed=tf.constant(5))["probabilities"].numpy() for model in (keras_export, trainer)]
            self.assertEqual(two_way[0].shape, (len(episode.query_images), 2))
            np.testing.assert_allclose(two_way[0], two_way[1], rtol=0, atol=1e-6)
        states = [model.signatures["adapt"](**inputs) for model in (keras_export, trainer)]
        self.assertEqual(sorted(states[0]), sorted(states[1]))
        for name in states[1]:
            np.testing.assert_allclose(states[0][name].numpy(), states[1][name].numpy(),
                                       rtol=0, atol=1e-6, err_msg=name)
        # the weights moved by adaptation (Meta-SGD): the comparison is not of the initialization
        if algorithm == "metasgd":
            first = setup.model.trainable_variables[0].numpy()
            self.assertGreater(float(np.max(np.abs(states[1]["conv0_kernel"].numpy() - first))),
                               1e-4)


if __name__ == "__main__":
    tf.test.main()
