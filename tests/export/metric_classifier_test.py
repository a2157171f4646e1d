"""A metric learner exported as ``adapt_and_classify`` classifies exactly like tfmeta in Python.

Four tiny real runs (3-way 1-shot, Conv-4 with 8 filters, 2 updates) on the
synthetic folder dataset of ``classifier_test``: Prototypical networks trained
4-way (served 3-way) and exported by the CLI (in this process), Matching networks with full
context embeddings, Relation and Siamese networks exported by
:func:`export.classifier_api.export_classifier`. Their served signatures are those of the
gradient-based export; "adapting" computes the support state in the graph.
"""

import functools
import os

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from export import api, classifier_api
from tfmeta.savedmodel.common import variable_names
from tests.export import fixtures
from tests.export.classifier_test import call, run_tf_only_program, write_class_folders
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import few_shot

WAYS, SHOTS, QUERIES = 3, 1, 2
MAX_SUPPORT, MAX_QUERY = 12, 20
METHODS = ("protonet", "matching", "relation", "siamese")
TINY = dict(dataset="folder", ways=WAYS, shots=SHOTS, queries=QUERIES, meta_batch_size=2,
            steps=2, filters=8, eval_every=2, eval_episodes=2, checkpoint_every=2,
            summary_every=1)
OPTIONS = {"protonet": dict(train_ways=4), "matching": dict(fce=True, fce_steps=2)}
SIGNATURES = ["adapt", "adapt_and_classify", "classify", "serving_default"]
# The state each method's adapt returns: {name: shape} ("S": the support set's size).
STATE = {"protonet": {"prototypes": [WAYS, 8]},
         "matching": {"support_embeddings": ["S", 8], "support_one_hot": ["S", WAYS]},
         "relation": {"class_features": [WAYS, 7, 7, 8]},
         "siamese": {"support_embeddings": ["S", 8], "support_one_hot": ["S", WAYS]}}


@functools.lru_cache(maxsize=None)
def tiny_run(method: str) -> str:
    """The workdir of a 2-update run of ``method``."""
    folder = os.path.join(fixtures.TMP, "few_shot_classes")
    if not os.path.isdir(folder):
        write_class_folders(folder)
    workdir = os.path.join(fixtures.TMP, "metric_runs", method)
    few_shot.run(few_shot.FewShotConfig(folder=folder, algorithm=method,
                                        **OPTIONS.get(method, {}), **TINY), workdir)
    return workdir


@functools.lru_cache(maxsize=None)
def exported(method: str) -> str:
    """The version directory of the run's export; protonet through the CLI, others the API."""
    base, name = os.path.join(fixtures.TMP, "metric_exports"), f"{method}_classifier"
    if method == "protonet":
        return fixtures.run_cli_checked("export.saved_model", f"--workdir={tiny_run(method)}",
                                        f"--export_dir={base}", f"--name={name}",
                                        f"--max_support={MAX_SUPPORT}",
                                        f"--max_query={MAX_QUERY}")
    return classifier_api.export_classifier(tiny_run(method), base, name, max_support=MAX_SUPPORT,
                                 max_query=MAX_QUERY)


@functools.lru_cache(maxsize=None)
def loaded(method: str):
    return tf.saved_model.load(exported(method))


@functools.lru_cache(maxsize=None)
def restored(method: str):
    """``(setup, splits)`` of the run, restored in this process."""
    return few_shot.load_run(tiny_run(method))


def episode(method: str, index: int, shots: int = 2):
    """A held-out episode (meta-test classes), support in shuffled order, as numpy."""
    _, splits = restored(method)
    e = EpisodeSampler(splits.test, ways=WAYS, shots=shots, queries=QUERIES, seed=5)(index)
    order = np.random.default_rng(index).permutation(WAYS * shots)
    return (e.support_images.numpy()[order], e.support_labels.numpy()[order].astype(np.int32),
            e.query_images.numpy())


def python_state_and_probabilities(method, support, labels, query):
    """tfmeta's own path: ``few_shot.adapt`` (state with an episode axis of 1), ``classify``."""
    setup, _ = restored(method)
    state = few_shot.adapt(setup, tf.constant(support), tf.constant(labels), inner_steps=0,
                           ways=WAYS)
    return ({k: v.numpy()[0] for k, v in state.items()},
            few_shot.classify(setup, state, tf.constant(query)).numpy())


class MetricClassifierGoldenTest(parameterized.TestCase):

    @parameterized.parameters(*METHODS)
    def test_reloaded_savedmodel_adapts_and_classifies_like_python(self, method):
        model = loaded(method)
        metadata = api.read_metadata(exported(method))
        self.assertEqual((metadata["kind"], metadata["family"], metadata["algorithm"],
                          metadata["ways"], metadata["adapt_steps"]),
                         ("classifier", "metric", method, WAYS, 0))
        self.assertEqual(metadata["signatures"], SIGNATURES)
        self.assertEqual({s["name"]: s["shape"] for s in metadata["state"]}, STATE[method])
        for index, seed in ((0, 3), (1, -7)):
            support, labels, query = episode(method, index)
            got = call(model, "adapt_and_classify", support_images=support,
                       support_labels=labels, query_images=query, seed=np.int32(seed))
            want_state, want = python_state_and_probabilities(method, support, labels, query)
            self.assertEqual(got["probabilities"].shape, (WAYS * QUERIES, WAYS))
            np.testing.assert_allclose(got["probabilities"], want, atol=1e-5, rtol=0)
            np.testing.assert_array_equal(got["labels"], np.argmax(got["probabilities"], -1))
            default = call(model, "serving_default", support_images=support,
                           support_labels=labels, query_images=query, seed=np.int32(seed))
            np.testing.assert_array_equal(default["probabilities"], got["probabilities"])
            # adapt returns the support state by name; classify takes it back.
            state = call(model, "adapt", support_images=support, support_labels=labels,
                         seed=np.int32(seed))
            self.assertEqual(sorted(state), sorted(STATE[method]))
            for name, value in want_state.items():
                np.testing.assert_allclose(state[name], value, atol=1e-5, rtol=0,
                                           err_msg=name)
            again = call(model, "classify", query_images=query, **state)
            np.testing.assert_allclose(again["probabilities"], got["probabilities"], atol=1e-6)

    @parameterized.parameters(*METHODS)
    def test_classifying_queries_one_at_a_time_equals_classifying_them_together(self, method):
        model = loaded(method)
        support, labels, query = episode(method, 2)
        together = call(model, "adapt_and_classify", support_images=support,
                        support_labels=labels, query_images=query, seed=np.int32(0))
        for i in range(len(query)):
            alone = call(model, "adapt_and_classify", support_images=support,
                         support_labels=labels, query_images=query[i:i + 1], seed=np.int32(0))
            np.testing.assert_allclose(alone["probabilities"][0], together["probabilities"][i],
                                       atol=1e-5, rtol=0, err_msg=f"query {i}")

    @parameterized.parameters(("protonet", "embedding_variables"),
                              ("relation", "head_variables"))
    def test_batch_norm_moving_averages_are_saved_variables_and_were_trained(self, method,
                                                                            group):
        model = loaded(method)
        setup, _ = restored(method)
        net = setup.nets.embedding if group == "embedding_variables" else setup.nets.head
        saved = getattr(model, group)
        self.assertLen(saved, len(net.variables))
        self.assertIn("bn1_moving_variance", saved)
        for name, variable in zip(variable_names(net.variables, net.name), net.variables):
            np.testing.assert_array_equal(saved[name].numpy(), variable.numpy(), err_msg=name)
        # Two training updates moved the averages off their initial 0 (so the golden test
        # tells moving averages from batch statistics or an untrained net).
        self.assertGreater(np.abs(saved["bn1_moving_mean"].numpy()).max(), 1e-4)

    def test_loads_and_runs_in_a_program_without_keras_or_tfmeta(self):
        support, labels, query = episode("matching", 3)
        summary, got, shown = run_tf_only_program(exported("matching"), "metric", support,
                                                  labels, query, 4)
        self.assertEqual(summary["importable"], [])
        self.assertEqual(summary["signatures"], SIGNATURES)
        self.assertIn(f"support_labels must be in [0, {WAYS - 1}]", summary["rejected"])
        self.assertIn("outputs['support_embeddings'] tensor_info:", shown)
        _, want = python_state_and_probabilities("matching", support, labels, query)
        np.testing.assert_allclose(got["probabilities"], want, atol=1e-5, rtol=0)
        np.testing.assert_allclose(got["classify"], want, atol=1e-5, rtol=0)
        self.assertEqual(got["adapt/support_embeddings"].shape, (WAYS * 2, 8))


def good_request() -> dict:
    support, labels, query = episode("protonet", 4, shots=1)
    return dict(support_images=support, support_labels=labels, query_images=query,
                seed=np.int32(0))


def state_request(method: str, **state) -> dict:
    """``classify``'s inputs: a good request's queries and state, some of it replaced."""
    r = good_request()
    good = call(loaded(method), "adapt", support_images=r["support_images"],
                support_labels=r["support_labels"], seed=np.int32(0))
    return dict(good, query_images=r["query_images"], **state)


# (method, signature, a function changing the good request, the expected message)
BAD_REQUESTS = [
    ("protonet", "adapt_and_classify",
     lambda r: dict(r, support_labels=np.array([0, 1, 3], np.int32)),
     r"support_labels must be in \[0, 2\] \(the classifier has 3 classes\); "
     r"got\] \[min 0, max 3\]"),
    ("protonet", "adapt",
     lambda r: dict(r, support_labels=np.array([0, 2, 2], np.int32)),
     r"support_labels must hold every class 0..2 at least once; missing classes\] \[1\]"),
    ("protonet", "adapt_and_classify",
     lambda r: dict(r, support_images=np.zeros([3, 32, 32, 1], np.float32)),
     r"support_images must have shape \[n, 28, 28, 1\]; got shape\] \[3 32 32 1\]"),
    ("protonet", "adapt_and_classify",
     lambda r: dict(r, query_images=r["query_images"][..., 0]),
     r"query_images must have rank 4, shape \[n, 28, 28, 1\]; got shape\] \[6 28 28\]"),
    ("protonet", "classify", lambda r: state_request("protonet",
                                                     prototypes=np.zeros([3, 9], np.float32)),
     r"prototypes must have shape \[3, 8\]; got shape\] \[3 9\]"),
    ("protonet", "classify", lambda r: state_request(
        "protonet", prototypes=np.full([3, 8], np.nan, np.float32)),
     r"prototypes must be finite"),
    ("matching", "classify", lambda r: state_request(
        "matching", support_one_hot=np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]),
     r"support_one_hot must have shape \[S, 3\]; got shape\] \[4 3\]"),
    ("siamese", "classify", lambda r: state_request(
        "siamese", support_embeddings=np.zeros([2, 8], np.float32),
        support_one_hot=np.eye(3, dtype=np.float32)[:2]),
     r"support_embeddings must hold between 3 and 12 support items \(S; .*got S =\] \[2\]"),
]


class MetricClassifierBadInputsTest(parameterized.TestCase):

    @parameterized.parameters(*BAD_REQUESTS)
    def test_bad_input_is_invalid_argument_naming_it_and_serving_goes_on(self, method,
                                                                         signature, change,
                                                                         message):
        model = loaded(method)
        names = set(model.signatures[signature].structured_input_signature[1])
        bad = {k: v for k, v in change(good_request()).items() if k in names}
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, message):
            call(model, signature, **bad)
        good = state_request(method) if signature == "classify" else good_request()
        out = call(model, signature, **{k: v for k, v in good.items() if k in names})
        self.assertTrue(all(np.all(np.isfinite(v)) for v in out.values()))

    def test_adapt_steps_is_refused_for_a_metric_run(self):
        with self.assertRaisesRegex(ValueError, r"--adapt_steps applies to gradient-based "
                                                r"runs; a relation run adapts by embedding"):
            classifier_api.export_classifier(tiny_run("relation"),
                                             os.path.join(fixtures.TMP, "unused"), "never",
                                             adapt_steps=3)


if __name__ == "__main__":
    parameterized.absltest.main()
