"""A MeGAN run exported as ``adapt_and_classify`` classifies exactly like tfmeta in Python.

One tiny real run (3-way 1-shot, an N+1 Conv-4 with 8 filters, a generator of
width 4 and noise 4, 2 inner steps with generated images from step 1 on, 2
meta-updates) on the synthetic folder dataset of ``classifier_test``, exported
once by the CLI ``export.saved_model`` (in this process). Its signatures are the
other classifiers'; adapting runs the generator in the graph, its noise drawn
from the request seed's adaptation stream, so the seed changes the answer.
"""

import functools
import os

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from export import api, classifier_api
from tfmeta.savedmodel.common import variable_names
from tests.export import fixtures
from tests.export.classifier_test import (SIGNATURES, call, python_probabilities,
                                          run_tf_only_program, write_class_folders)
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import few_shot

WAYS, SHOTS, QUERIES = 3, 1, 2
MAX_SUPPORT, MAX_QUERY = 12, 20
STEPS = 2   # eval_inner_steps: the served adaptation's
TINY = dict(dataset="folder", algorithm="megan", ways=WAYS, shots=SHOTS, queries=QUERIES,
            meta_batch_size=2, steps=2, filters=8, generator_filters=4, noise_dim=4,
            inner_steps=2, fakes_from=1, eval_inner_steps=STEPS, eval_every=2, first_order=True,
            outer_loss="hybrid",
            eval_episodes=2, checkpoint_every=2, summary_every=1)


@functools.lru_cache(maxsize=None)
def tiny_run() -> str:
    """The workdir of a 2-update MeGAN run."""
    folder = os.path.join(fixtures.TMP, "few_shot_classes")
    if not os.path.isdir(folder):
        write_class_folders(folder)
    workdir = os.path.join(fixtures.TMP, "megan_runs", "megan")
    few_shot.run(few_shot.FewShotConfig(folder=folder, **TINY), workdir)
    return workdir


@functools.lru_cache(maxsize=None)
def exported() -> str:
    """The version directory of the run's export, written by the CLI."""
    return fixtures.run_cli_checked("export.saved_model", f"--workdir={tiny_run()}",
                                    f"--export_dir={os.path.join(fixtures.TMP, 'megan_exports')}",
                                    "--name=megan_classifier", f"--max_support={MAX_SUPPORT}",
                                    f"--max_query={MAX_QUERY}")


@functools.lru_cache(maxsize=None)
def loaded():
    return tf.saved_model.load(exported())


@functools.lru_cache(maxsize=None)
def restored():
    """``(setup, splits)`` of the run, restored in this process."""
    return few_shot.load_run(tiny_run())


def episode(index: int, shots: int = 2):
    """A held-out episode (meta-test classes), support in shuffled order, as numpy."""
    _, splits = restored()
    e = EpisodeSampler(splits.test, ways=WAYS, shots=shots, queries=QUERIES, seed=5)(index)
    order = np.random.default_rng(index).permutation(WAYS * shots)
    return (e.support_images.numpy()[order], e.support_labels.numpy()[order].astype(np.int32),
            e.query_images.numpy())


@functools.lru_cache(maxsize=None)
def tf_only_run():
    """``((support, labels, query), run_tf_only_program(...))`` on the export, seed 4."""
    support, labels, query = episode(4)
    return (support, labels, query), run_tf_only_program(exported(), "megan", support, labels,
                                                         query, 4)


def served(signature: str, support, labels, query, seed: int) -> dict:
    inputs = dict(support_images=support, support_labels=labels, seed=np.int32(seed))
    if signature != "adapt":
        inputs["query_images"] = query
    return call(loaded(), signature, **inputs)


class MeganClassifierExportTest(absltest.TestCase):

    def test_reloaded_savedmodel_adapts_both_players_and_classifies_like_python(self):
        setup, _ = restored()
        for index, seed in ((0, 3), (1, -7)):
            support, labels, query = episode(index)
            got = served("adapt_and_classify", support, labels, query, seed)
            want, _ = python_probabilities(setup, support, labels, query, seed, steps=STEPS)
            self.assertEqual(got["probabilities"].shape, (WAYS * QUERIES, WAYS))
            np.testing.assert_allclose(got["probabilities"], want, atol=1e-5, rtol=0)
            np.testing.assert_allclose(got["probabilities"].sum(-1), 1.0, atol=1e-5)
            np.testing.assert_array_equal(got["labels"], np.argmax(got["probabilities"], -1))
            default = served("serving_default", support, labels, query, seed)
            np.testing.assert_array_equal(default["probabilities"], got["probabilities"])

    def test_the_generator_runs_in_the_served_graph_so_the_seed_changes_the_answer(self):
        support, labels, query = episode(2)
        first = served("adapt_and_classify", support, labels, query, 11)
        again = served("adapt_and_classify", support, labels, query, 11)
        other = served("adapt_and_classify", support, labels, query, 12)
        np.testing.assert_array_equal(again["probabilities"], first["probabilities"])
        # Only the generator's noise draws from the seed (the support set is used whole), so
        # without the generator in the graph the two seeds would give the same answer.
        self.assertGreater(np.abs(other["probabilities"] - first["probabilities"]).max(), 1e-4)
        setup, _ = restored()
        want, _ = python_probabilities(setup, support, labels, query, 12, steps=STEPS)
        np.testing.assert_allclose(other["probabilities"], want, atol=1e-5, rtol=0)

    def test_adapt_returns_the_n_plus_one_classifier_that_classify_turns_into_the_answer(self):
        setup, _ = restored()
        support, labels, query = episode(3)
        state = served("adapt", support, labels, query, 5)
        _, want = python_probabilities(setup, support, labels, query, 5, steps=STEPS)
        names = variable_names(setup.model.trainable_variables, setup.model.name)
        self.assertEqual(sorted(state), sorted(names))
        self.assertEqual(names[-2:], ["head_kernel", "head_bias"])
        self.assertEqual(state["head_kernel"].shape, (8, WAYS + 1))
        self.assertEqual(state["head_bias"].shape, (WAYS + 1,))
        for name, w in zip(names, want):
            np.testing.assert_allclose(state[name], w.numpy(), atol=1e-6, rtol=0, err_msg=name)
        both = served("adapt_and_classify", support, labels, query, 5)
        again = call(loaded(), "classify", query_images=query, **state)
        self.assertEqual(again["probabilities"].shape, (WAYS * QUERIES, WAYS))
        np.testing.assert_allclose(again["probabilities"], both["probabilities"], atol=1e-6)
        np.testing.assert_allclose(again["probabilities"].sum(-1), 1.0, atol=1e-5)

    def test_generator_weights_are_saved_variables_equal_to_the_run(self):
        setup, _ = restored()
        saved = loaded().generator_weights
        generator = setup.generator.trainable_variables
        names = variable_names(generator, setup.generator.name)
        self.assertEqual(sorted(saved), sorted(names))
        for name, variable in zip(names, generator):
            np.testing.assert_array_equal(saved[name].numpy(), variable.numpy(), err_msg=name)

    def test_metadata_says_gradient_family_megan_and_describes_the_generator(self):
        metadata = api.read_metadata(exported())
        self.assertEqual((metadata["kind"], metadata["family"], metadata["algorithm"],
                          metadata["ways"], metadata["adapt_steps"],
                          metadata["classifier_outputs"]),
                         ("classifier", "gradient", "megan", WAYS, STEPS, WAYS + 1))
        self.assertEqual(metadata["signatures"], SIGNATURES)
        self.assertEqual(metadata["generator"], {"conditioning": "image", "fakes_from": 1,
                                                 "real_weight": 3.0, "fake_weight": 1.0})
        self.assertEqual(sorted(metadata["inner_optimizer"]), ["generator", "model"])
        shapes = {w["name"]: w["shape"] for w in metadata["state"]}
        self.assertEqual(shapes["head_bias"], [WAYS + 1])
        self.assertEqual(metadata["weights"], metadata["state"])

    def test_loads_and_runs_in_a_program_without_keras_or_tfmeta(self):
        (support, labels, query), (summary, got, _) = tf_only_run()
        self.assertEqual(summary["importable"], [])
        self.assertEqual(summary["signatures"], SIGNATURES)
        self.assertIn(f"support_labels must be in [0, {WAYS - 1}]", summary["rejected"])
        setup, _ = restored()
        want, _ = python_probabilities(setup, support, labels, query, 4, steps=STEPS)
        np.testing.assert_allclose(got["probabilities"], want, atol=1e-5, rtol=0)
        np.testing.assert_allclose(got["classify"], want, atol=1e-5, rtol=0)
        self.assertEqual(got["adapt/head_kernel"].shape, (8, WAYS + 1))

    def test_saved_model_cli_lists_the_signatures_and_the_n_plus_one_head(self):
        _, (_, _, text) = tf_only_run()
        for name in SIGNATURES:
            self.assertIn(f"signature_def['{name}']:", text)
        for needle in ("inputs['seed'] tensor_info:", "outputs['probabilities'] tensor_info:",
                       "outputs['head_kernel']", f"shape: (8, {WAYS + 1})", "shape: (-1, 3)"):
            self.assertIn(needle, text)

    def test_adapt_steps_that_never_reach_the_generated_images_are_refused_naming_both(self):
        setup, _ = restored()   # fakes_from=1: one step would adapt on real images only
        with self.assertRaisesRegex(ValueError, r"--adapt_steps=1 must exceed the MeGAN run's "
                                                r"fakes_from=1"):
            classifier_api.classifier_module(setup, adapt_steps=1)
        self.assertEqual(classifier_api.classifier_module(setup, adapt_steps=2).adapt_steps, 2)


if __name__ == "__main__":
    absltest.main()
