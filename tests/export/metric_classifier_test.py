"""A metric learner exported as ``adapt_and_classify`` classifies exactly like tfmeta in Python.

Four tiny real runs (3-way 1-shot, Conv-4 with 8 filters, 2 updates) on the
synthetic folder dataset of ``classifier_test``: Prototypical networks trained
4-way (served 3-way) and exported by the CLI (in this process), Matching networks with full
context embeddings, Relation and Siamese networks exported by
:func:`export.classifier_api.export_classifier`. Their served signatures are those of the
gradient-based export; "adapting" computes the support state in the graph, of as many
classes as a request's labels name (any N up to the export's ``max_ways``). Prototypical
networks are exported once more with room for 24 classes and sent 2-way, 20-way and
25-way requests, and pixels a hair outside [-1, 1], by a program that imports TensorFlow
only.
"""

import functools
import json
import os
import sys

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
# The state each method's adapt returns: {name: shape} ("S": the support set's size, "N": the
# request's number of classes).
STATE = {"protonet": {"prototypes": ["N", 8]},
         "matching": {"support_embeddings": ["S", 8], "support_one_hot": ["S", "N"]},
         "relation": {"class_features": ["N", 7, 7, 8]},
         "siamese": {"support_embeddings": ["S", 8], "support_one_hot": ["S", "N"]}}
WIDE_SUPPORT, WIDE_WAYS = 48, 24   # the second protonet export's max_support, max_ways
HERE = os.path.dirname(os.path.abspath(__file__))


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


def python_state_and_probabilities(method, support, labels, query, ways=WAYS):
    """tfmeta's own path: ``few_shot.adapt`` (state with an episode axis of 1), ``classify``."""
    setup, _ = restored(method)
    state = few_shot.adapt(setup, tf.constant(support), tf.constant(labels), inner_steps=0,
                           ways=ways)
    return ({k: v.numpy()[0] for k, v in state.items()},
            few_shot.classify(setup, state, tf.constant(query)).numpy())


class MetricClassifierGoldenTest(parameterized.TestCase):

    @parameterized.parameters(*METHODS)
    def test_reloaded_savedmodel_adapts_and_classifies_like_python(self, method):
        model = loaded(method)
        metadata = api.read_metadata(exported(method))
        self.assertEqual((metadata["kind"], metadata["family"], metadata["algorithm"],
                          metadata["ways"], metadata["max_ways"], metadata["adapt_steps"],
                          metadata["image_range"], metadata["image_tolerance"]),
                         ("classifier", "metric", method, WAYS, MAX_SUPPORT, 0, [-1, 1], 1e-5))
        self.assertEqual(metadata["signatures"], SIGNATURES)
        self.assertEqual({s["name"]: s["shape"] for s in metadata["state"]}, STATE[method])
        for index, seed in ((0, 3), (1, -7)):
            support, labels, query = episode(method, index, shots=_shots(method))
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
        support, labels, query = episode(method, 2, shots=_shots(method))
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
        # labels + 1: classes 1..3 of a 4-way request, without class 0
        self.assertIn("support_labels must hold every class 0..N-1 at least once (N = the "
                      "largest label + 1); missing classes] [0]", summary["rejected"])
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
     r"support_labels must hold every class 0..N-1 at least once \(N = the largest label "
     r"\+ 1\); missing classes\] \[2\]"),
    ("protonet", "adapt",
     lambda r: dict(r, support_labels=np.array([0, 2, 2], np.int32)),
     r"support_labels must hold every class 0..N-1 at least once .*missing classes\] \[1\]"),
    ("protonet", "adapt_and_classify",
     lambda r: dict(r, support_labels=np.array([0, 1, MAX_SUPPORT], np.int32)),
     r"support_labels must be in \[0, 11\] \(N-way requests, N = the largest label \+ 1, "
     r"up to 12: bound fixed at export time\); got\] \[min 0, max 12\]"),
    ("protonet", "adapt_and_classify",
     lambda r: dict(r, support_labels=np.array([-1, 0, 1], np.int32)),
     r"support_labels must be in \[0, 11\] .*got\] \[min -1, max 1\]"),
    ("relation", "adapt_and_classify",   # trained 1-shot: a 2-shot class is refused
     lambda r: dict(r, support_images=np.concatenate([r["support_images"],
                                                      r["support_images"][:1]]),
                    support_labels=np.concatenate([r["support_labels"],
                                                   r["support_labels"][:1]])),
     r"support_labels must give every class exactly 1 images \(the run sums the K feature "
     r"maps of a class and was trained with K = 1\); got per class\] \[.*2.*\]"),
    ("relation", "adapt",
     lambda r: dict(r, support_labels=np.array([0, 0, 0], np.int32)),
     r"support_labels must hold at least 2 classes \(N = the largest label \+ 1\); "
     r"got N =\] \[1\]"),
    ("protonet", "adapt_and_classify",
     lambda r: dict(r, support_images=np.minimum(r["support_images"], -1.01)),
     r"support_images must be finite and in \[-1, 1\] \(to within 1e-05, then clipped\); "
     r"got\] \[min -1.01, max -1.01\]"),
    ("matching", "adapt_and_classify",
     lambda r: dict(r, query_images=np.maximum(r["query_images"], 1.02)),
     r"query_images must be finite and in \[-1, 1\] \(to within 1e-05, then clipped\); "
     r"got\] \[min 1.02, max 1.02\]"),
    ("protonet", "adapt_and_classify",
     lambda r: dict(r, support_images=np.zeros([3, 32, 32, 1], np.float32)),
     r"support_images must have shape \[n, 28, 28, 1\]; got shape\] \[3 32 32 1\]"),
    ("protonet", "adapt_and_classify",
     lambda r: dict(r, query_images=r["query_images"][..., 0]),
     r"query_images must have rank 4, shape \[n, 28, 28, 1\]; got shape\] \[6 28 28\]"),
    ("protonet", "classify", lambda r: state_request("protonet",
                                                     prototypes=np.zeros([3, 9], np.float32)),
     r"prototypes must have shape \[N, 8\]; got shape\] \[3 9\]"),
    ("protonet", "classify", lambda r: state_request("protonet",
                                                     prototypes=np.zeros([13, 8], np.float32)),
     r"prototypes must hold between 2 and 12 classes \(N; bound fixed at export time\); "
     r"got N =\] \[13\]"),
    ("protonet", "classify", lambda r: state_request(
        "protonet", prototypes=np.full([3, 8], np.nan, np.float32)),
     r"prototypes must be finite"),
    ("matching", "classify", lambda r: state_request(
        "matching", support_one_hot=np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]),
     r"support_one_hot must have shape \[S, N\]; got shape\] \[4 3\]"),
    ("siamese", "classify", lambda r: state_request(
        "siamese", support_embeddings=np.zeros([2, 8], np.float32),
        support_one_hot=np.eye(3, dtype=np.float32)[:2]),
     r"support_embeddings must hold between N and 12 support items \(S; .*got S, N =\] "
     r"\[2 3\]"),
]


def _shots(method: str) -> int:
    """Support images per class of a request: 2, but a Relation run answers only the shots
    it was trained with (it sums the K feature maps of a class)."""
    return SHOTS if method == "relation" else 2


def synthetic_episode(ways: int, shots: int, queries: int, seed: int):
    """An N-way episode of made-up classes (a fixed 7x7 pattern each, plus noise), as the
    folder dataset's images: ``(support, labels, query)`` in [-1, 1], support shuffled."""
    rng = np.random.default_rng(seed)
    patterns = np.kron(rng.uniform(-0.8, 0.8, [ways, 7, 7]), np.ones([4, 4]))

    def images(per_class):
        x = np.repeat(patterns, per_class, 0) + rng.normal(0, 0.15, [ways * per_class, 28, 28])
        return np.clip(x, -1, 1).astype(np.float32)[..., None]
    order = rng.permutation(ways * shots)
    labels = np.repeat(np.arange(ways, dtype=np.int32), shots)
    return images(shots)[order], labels[order], images(queries)


class MetricClassifierAnyWaysTest(parameterized.TestCase):

    @parameterized.parameters(*[(m, w) for m in METHODS for w in (2, 4)])
    def test_an_n_way_request_is_answered_like_python_for_n_other_than_the_runs(self, method,
                                                                               ways):
        support, labels, query = synthetic_episode(ways, _shots(method), 2, seed=ways)
        got = call(loaded(method), "adapt_and_classify", support_images=support,
                   support_labels=labels, query_images=query, seed=np.int32(0))
        want_state, want = python_state_and_probabilities(method, support, labels, query, ways)
        self.assertEqual(got["probabilities"].shape, (ways * 2, ways))
        np.testing.assert_allclose(got["probabilities"], want, atol=1e-5, rtol=0)
        state = call(loaded(method), "adapt", support_images=support, support_labels=labels,
                     seed=np.int32(0))
        again = call(loaded(method), "classify", query_images=query, **state)
        np.testing.assert_allclose(again["probabilities"], got["probabilities"], atol=1e-6)

    def test_a_tensorflow_only_program_gets_2_and_20_way_answers_and_clipped_pixels(self):
        export = wide_export()
        metadata = api.read_metadata(export)
        self.assertEqual((metadata["ways"], metadata["trained_ways"], metadata["max_ways"],
                          metadata["max_support"], metadata["image_tolerance"]),
                         (WAYS, 4, WIDE_WAYS, WIDE_SUPPORT, 1e-5))
        requests = {"two_way": synthetic_episode(2, 3, 2, seed=1),
                    "twenty_way": synthetic_episode(20, 1, 1, seed=2),
                    "too_many": synthetic_episode(WIDE_WAYS + 1, 1, 1, seed=3)}
        support, labels, query = requests["two_way"]
        overshoot = support.copy()
        overshoot[0, :3, :3, 0] = -1.0000005            # an antialiased resize's overshoot
        overshoot[1, 0, 0, 0] = 1.0000005
        requests["overshoot"] = (overshoot, labels, query)
        requests["clipped"] = (np.clip(overshoot, -1, 1), labels, query)
        requests["out_of_range"] = (np.minimum(support, -1.01), labels, query)
        summary, got = run_requests(export, requests)
        self.assertEqual(summary["importable"], [])
        self.assertEqual(sorted(summary["refused"]), ["out_of_range", "too_many"])
        self.assertEqual(summary["refused"]["too_many"], [
            "assertion failed: [support_labels must be in [0, 23] (N-way requests, N = the "
            "largest label + 1, up to 24: bound fixed at export time); got] [min 0, max 24]"])
        self.assertEqual(summary["refused"]["out_of_range"], [
            "assertion failed: [support_images must be finite and in [-1, 1] (to within 1e-05, "
            "then clipped); got] [min -1.01, max -1.01]"])
        for name, ways in (("two_way", 2), ("twenty_way", 20)):
            support, labels, query = requests[name]
            _, want = python_state_and_probabilities("protonet", support, labels, query, ways)
            self.assertEqual(got[f"{name}:probabilities"].shape, (len(query), ways))
            np.testing.assert_allclose(got[f"{name}:probabilities"], want, atol=1e-5, rtol=0)
            np.testing.assert_array_equal(got[f"{name}:labels"],
                                          np.argmax(got[f"{name}:probabilities"], -1))
        self.assertEqual(float(overshoot.min()), np.float32(-1.0000005))
        for key in ("probabilities", "labels"):
            np.testing.assert_array_equal(got[f"overshoot:{key}"], got[f"clipped:{key}"])


@functools.lru_cache(maxsize=None)
def wide_export() -> str:
    """The protonet run exported by the CLI with room for 48 support images and 24 classes."""
    return fixtures.run_cli_checked(
        "export.saved_model", f"--workdir={tiny_run('protonet')}",
        f"--export_dir={os.path.join(fixtures.TMP, 'metric_exports')}", "--name=protonet_wide",
        f"--max_support={WIDE_SUPPORT}", f"--max_ways={WIDE_WAYS}", f"--max_query={MAX_QUERY}")


def run_requests(export_dir: str, requests: dict) -> tuple[dict, dict]:
    """``(summary, outputs)`` of ``tests/export/tf_only_requests.py`` sending each request
    ``name: (support, labels, query)`` to ``adapt_and_classify`` (seed 0)."""
    folder = os.path.join(fixtures.TMP, "metric_tf_only_requests")
    os.makedirs(folder, exist_ok=True)
    inputs, outputs = (os.path.join(folder, f) for f in ("requests.npz", "outputs.npz"))
    arrays = {}
    for name, (support, labels, query) in requests.items():
        for argument, value in (("support_images", support), ("support_labels", labels),
                                ("query_images", query), ("seed", np.int32(0))):
            arrays[f"{name}:adapt_and_classify:{argument}"] = value
    np.savez(inputs, **arrays)
    proc = fixtures.run_checked([sys.executable, os.path.join(HERE, "tf_only_requests.py"),
                                 export_dir, inputs, outputs])
    line = next(line for line in proc.stdout.splitlines() if line.startswith("{"))
    return json.loads(line), dict(np.load(outputs))


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
