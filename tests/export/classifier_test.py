"""A few-shot run exported as ``adapt_and_classify`` classifies exactly like tfmeta in Python.

Two tiny real runs (3-way 1-shot, Conv-4 with 8 filters, 2 meta-updates) on a
synthetic folder dataset of 10 classes: plain MAML, exported by the CLI
``export.saved_model`` (its ``main`` in this process, :func:`fixtures.run_cli`; it
must recognize the few-shot run), and
Meta-SGD, whose learned rates are set to distinctly non-uniform values first
(so an export that ignored them would differ), exported by
:func:`export.classifier_api.export_classifier`; MAML++ and HSML (whose
initialization is tailored to each support set inside ``adapt``) likewise. Both runs adapt with
``eval_inner_steps=2`` at test time (``inner_steps=1`` in training).
"""

import functools
import json
import os
import re
import sys

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from export import api, classifier_api
from tfmeta.savedmodel.common import request_seeds
from tests.export import fixtures
from tfmeta.data import EpisodeSampler
from tfmeta.experiments import few_shot
from tfmeta.training import checkpoint_manager

WAYS, SHOTS, QUERIES = 3, 1, 2
MAX_SUPPORT, MAX_QUERY = 12, 20
TINY = dict(dataset="folder", ways=WAYS, shots=SHOTS, queries=QUERIES, meta_batch_size=2,
            steps=2, filters=8, eval_every=2, eval_episodes=2, inner_steps=1,
            eval_inner_steps=2, checkpoint_every=2, summary_every=1)
SIGNATURES = ["adapt", "adapt_and_classify", "classify", "serving_default"]

# Loads the export with Keras and tfmeta unimportable, calls every signature, saves the outputs
# and prints a JSON summary; then TF's own saved_model_cli (its command line's main(), in the
# same Keras-free process) shows the export (``show --all``) below the summary.
TF_ONLY_PROGRAM = '''
import sys
for name in ("keras", "tf_keras", "tfmeta", "export", "serving", "tests"):
    sys.modules[name] = None
import json
import numpy as np
import tensorflow as tf

model = tf.saved_model.load(sys.argv[1])
x = {k: tf.constant(v) for k, v in np.load(sys.argv[2]).items()}
sig = model.signatures
both = sig["adapt_and_classify"](support_images=x["support_images"],
                                 support_labels=x["support_labels"],
                                 query_images=x["query_images"], seed=x["seed"])
weights = sig["adapt"](support_images=x["support_images"],
                       support_labels=x["support_labels"], seed=x["seed"])
again = sig["classify"](query_images=x["query_images"], **weights)
try:
    sig["adapt_and_classify"](support_images=x["support_images"],
                              support_labels=x["support_labels"] + 1,
                              query_images=x["query_images"], seed=x["seed"])
    rejected = None
except tf.errors.InvalidArgumentError as e:
    rejected = e.message
out = {"probabilities": both["probabilities"], "labels": both["labels"],
       "classify": again["probabilities"]}
out.update({"adapt/" + k: v for k, v in weights.items()})
np.savez(sys.argv[3], **{k: np.asarray(v) for k, v in out.items()})
print(json.dumps({"signatures": sorted(sig), "rejected": rejected,
                  "importable": [m for m in ("keras", "tfmeta") if sys.modules.get(m)]}),
      flush=True)

from tensorflow.python.tools import saved_model_cli
sys.argv = ["saved_model_cli", "show", "--dir", sys.argv[1], "--all"]
saved_model_cli.main()
'''


def run_tf_only_program(export_dir: str, name: str, support, labels, query, seed: int):
    """``(summary, outputs, shown)`` of :data:`TF_ONLY_PROGRAM` on one request: its JSON
    summary, the outputs it saved and what saved_model_cli showed."""
    folder = os.path.join(fixtures.TMP, f"{name}_tf_only")
    os.makedirs(folder, exist_ok=True)
    inputs, outputs, program = (os.path.join(folder, f) for f in
                                ("inputs.npz", "outputs.npz", "program.py"))
    np.savez(inputs, support_images=support, support_labels=labels, query_images=query,
             seed=np.int32(seed))
    with open(program, "w") as f:
        f.write(TF_ONLY_PROGRAM)
    stdout = fixtures.run_checked([sys.executable, program, export_dir, inputs, outputs]).stdout
    lines = stdout.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("{"))
    return json.loads(lines[first]), dict(np.load(outputs)), "".join(lines[first + 1:])


def write_class_folders(folder: str, classes: int = 10, per_class: int = 5) -> str:
    """``classes`` folders of 28x28 grayscale PNGs: a fixed random pattern per class plus noise."""
    from PIL import Image
    rng = np.random.default_rng(17)
    for c in range(classes):
        pattern = rng.uniform(0, 255, [7, 7])
        os.makedirs(os.path.join(folder, f"class{c:02d}"), exist_ok=True)
        for i in range(per_class):
            image = np.kron(pattern, np.ones([4, 4])) + rng.normal(0, 20, [28, 28])
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
                os.path.join(folder, f"class{c:02d}", f"{i}.png"))
    return folder


@functools.lru_cache(maxsize=None)
def tiny_run(algorithm: str) -> str:
    """The workdir of a 2-step few-shot run of ``algorithm`` (Meta-SGD: rates perturbed;
    ``mamlpp``: maml with MAML++'s per-step rates and per-step batch norm;
    ``reptile_carried``: Reptile whose Adam state is carried into every adaptation)."""
    folder = write_class_folders(os.path.join(fixtures.TMP, "few_shot_classes"))
    workdir = os.path.join(fixtures.TMP, "few_shot_runs", algorithm)
    options = {"mamlpp": dict(algorithm="maml", per_step_lr=True, per_step_bn=True),
               "reptile_carried": dict(algorithm="reptile", inner_optimizer="adam_carried",
                                       inner_lr=1e-2)}.get(algorithm, dict(algorithm=algorithm))
    config = few_shot.FewShotConfig(folder=folder, **options, **TINY)
    few_shot.run(config, workdir)
    if algorithm == "metasgd":
        setup, _ = few_shot.load_run(workdir)
        rng = np.random.default_rng(7)
        for rate in setup.inner.variables:
            rate.assign(config.inner_lr * rng.uniform(0.2, 5.0, rate.shape).astype("float32"))
        step = int(setup.checkpoint.step.numpy())
        checkpoint_manager(setup.checkpoint, workdir).save(checkpoint_number=step + 1)
    return workdir


@functools.lru_cache(maxsize=None)
def exported(algorithm: str) -> str:
    """The version directory of the run's export; maml through the CLI, others the API."""
    base, name = os.path.join(fixtures.TMP, "classifier_exports"), f"{algorithm}_classifier"
    if algorithm == "maml":
        return fixtures.run_cli_checked("export.saved_model", f"--workdir={tiny_run(algorithm)}",
                                        f"--export_dir={base}", f"--name={name}",
                                        f"--max_support={MAX_SUPPORT}",
                                        f"--max_query={MAX_QUERY}")
    return classifier_api.export_classifier(tiny_run(algorithm), base, name,
                                            max_support=MAX_SUPPORT, max_query=MAX_QUERY)


@functools.lru_cache(maxsize=None)
def loaded(algorithm: str):
    return tf.saved_model.load(exported(algorithm))


@functools.lru_cache(maxsize=None)
def restored(algorithm: str):
    """``(setup, splits)`` of the run, restored in this process."""
    return few_shot.load_run(tiny_run(algorithm))


def episode(index: int, shots: int = 2):
    """A held-out episode (meta-test classes) with shuffled support order, as numpy."""
    _, splits = restored("maml")
    e = EpisodeSampler(splits.test, ways=WAYS, shots=shots, queries=QUERIES, seed=5)(index)
    order = np.random.default_rng(index).permutation(WAYS * shots)
    return (e.support_images.numpy()[order], e.support_labels.numpy()[order],
            e.query_images.numpy(), e.query_labels.numpy())


@functools.lru_cache(maxsize=None)
def tf_only_run():
    """``((support, labels, query), run_tf_only_program(...))`` on the maml export, seed 4."""
    support, labels, query, _ = episode(3)
    return (support, labels, query), run_tf_only_program(exported("maml"), "classifier",
                                                         support, labels, query, 4)


def python_probabilities(setup, support, labels, query, seed, steps):
    adapt_seed = request_seeds(tf.constant(seed, tf.int32))[1]
    params = few_shot.adapt(setup, tf.constant(support), tf.constant(labels), inner_steps=steps,
                            seed=adapt_seed)
    return few_shot.classify(setup, params, tf.constant(query)).numpy(), params


def call(model, signature, **inputs):
    return {k: v.numpy() for k, v in model.signatures[signature](
        **{n: tf.constant(x) for n, x in inputs.items()}).items()}


class ClassifierGoldenTest(parameterized.TestCase):

    @parameterized.parameters("maml", "metasgd", "mamlpp", "hsml", "reptile_carried")
    def test_reloaded_savedmodel_adapts_and_classifies_like_python(self, algorithm):
        model = loaded(algorithm)
        setup, _ = restored(algorithm)
        metadata = api.read_metadata(exported(algorithm))
        self.assertEqual((metadata["kind"], metadata["ways"], metadata["adapt_steps"]),
                         ("classifier", WAYS, 2))
        self.assertEqual(metadata["signatures"], SIGNATURES)
        for index, seed in ((0, 3), (1, -7)):
            support, labels, query, _ = episode(index)
            got = call(model, "adapt_and_classify", support_images=support,
                       support_labels=labels, query_images=query, seed=np.int32(seed))
            want, _ = python_probabilities(setup, support, labels, query, seed, steps=2)
            self.assertEqual(got["probabilities"].shape, (WAYS * QUERIES, WAYS))
            np.testing.assert_allclose(got["probabilities"], want, atol=1e-5, rtol=0)
            np.testing.assert_array_equal(got["labels"], np.argmax(got["probabilities"], -1))
            default = call(model, "serving_default", support_images=support,
                           support_labels=labels, query_images=query, seed=np.int32(seed))
            np.testing.assert_array_equal(default["probabilities"], got["probabilities"])
            # The served adaptation takes eval_inner_steps (2), not the training's 1 or none.
            for steps in (0, 1):
                other, _ = python_probabilities(setup, support, labels, query, seed, steps)
                self.assertGreater(np.abs(other - got["probabilities"]).max(), 1e-4, steps)

    def test_meta_sgd_learned_rates_are_exported_variables(self):
        model = loaded("metasgd")
        setup, _ = restored("metasgd")
        run_rates = [v.numpy() for v in setup.inner.variables]
        self.assertGreater(np.std(np.concatenate([r.ravel() for r in run_rates])), 1e-2)
        for a, b in zip(run_rates, model.inner_learning_rates):
            np.testing.assert_array_equal(a, b.numpy())

    def test_adapt_returns_named_weights_that_classify_turns_into_the_same_answer(self):
        model = loaded("maml")
        setup, _ = restored("maml")
        support, labels, query, _ = episode(2)
        weights = call(model, "adapt", support_images=support, support_labels=labels,
                       seed=np.int32(11))
        _, want = python_probabilities(setup, support, labels, query, 11, steps=2)
        names = [w["name"] for w in api.read_metadata(exported("maml"))["weights"]]
        self.assertEqual(names[:4], ["conv0_kernel", "conv0_bias", "bn0_gamma",
                                           "bn0_beta"])
        self.assertEqual(names[-2:], ["head_kernel", "head_bias"])
        self.assertEqual(sorted(weights), sorted(names))
        for name, w in zip(names, want):
            np.testing.assert_allclose(weights[name], w.numpy(), atol=1e-6, rtol=0, err_msg=name)
        both = call(model, "adapt_and_classify", support_images=support, support_labels=labels,
                    query_images=query, seed=np.int32(11))
        again = call(model, "classify", query_images=query, **weights)
        np.testing.assert_allclose(again["probabilities"], both["probabilities"], atol=1e-6)

    def test_loads_and_runs_in_a_program_without_keras_or_tfmeta(self):
        (support, labels, query), (summary, got, _) = tf_only_run()
        self.assertEqual(summary["importable"], [])
        self.assertEqual(summary["signatures"], SIGNATURES)
        self.assertIn(f"support_labels must be in [0, {WAYS - 1}] (it answers {WAYS}-way "
                      "requests only", summary["rejected"])
        want = call(loaded("maml"), "adapt_and_classify", support_images=support,
                    support_labels=labels, query_images=query, seed=np.int32(4))
        np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=1e-5)
        np.testing.assert_allclose(got["classify"], want["probabilities"], atol=1e-5)

    def test_saved_model_cli_lists_the_signatures_and_their_inputs(self):
        _, (_, _, text) = tf_only_run()
        for name in SIGNATURES:
            self.assertIn(f"signature_def['{name}']:", text)
        for name, dtype, shape in (("support_images", "DT_FLOAT", "(-1, 28, 28, 1)"),
                                   ("support_labels", "DT_INT32", "(-1)"),
                                   ("query_images", "DT_FLOAT", "(-1, 28, 28, 1)"),
                                   ("seed", "DT_INT32", "()"),
                                   ("head_kernel", "DT_FLOAT", "(-1, -1)")):
            self.assertRegex(text, rf"inputs\['{name}'\] tensor_info:\n\s+dtype: {dtype}\n"
                                   rf"\s+shape: {re.escape(shape)}\n")
        for needle in ("outputs['probabilities'] tensor_info:", "outputs['labels']",
                       "outputs['conv0_kernel']", "shape: (-1, 3)", f"shape: (8, {WAYS})"):
            self.assertIn(needle, text)


def good_request() -> dict:
    support, labels, query, _ = episode(4, shots=1)
    return dict(support_images=support, support_labels=labels.astype(np.int32),
                query_images=query, seed=np.int32(0))


# (signature, a function changing the good request, the expected message)
BAD_REQUESTS = [
    ("adapt_and_classify", lambda r: dict(r, support_labels=np.array([0, 1, 3], np.int32)),
     r"support_labels must be in \[0, 2\] \(it answers 3-way requests only: its head has 3 "
     r"classes\); got\] \[min 0, max 3\]"),
    ("adapt_and_classify", lambda r: dict(r, support_labels=np.array([0, -1, 2], np.int32)),
     r"support_labels must be in \[0, 2\]"),
    ("adapt_and_classify", lambda r: dict(r, support_labels=np.array([0, 2, 2], np.int32)),
     r"support_labels must hold every class 0..2 at least once \(it answers 3-way requests "
     r"only: its head has 3 classes\); missing classes\] \[1\]"),
    ("adapt", lambda r: dict(r, support_labels=np.array([0, 0, 0], np.int32)),
     r"support_labels must hold every class 0..2 at least once .*missing classes\] \[1 2\]"),
    # a 2-way request to the 3-way head
    ("adapt_and_classify", lambda r: dict(r, support_images=r["support_images"][:2],
                                          support_labels=np.array([0, 1], np.int32)),
     r"support_images must hold between 3 and 12 items .*got n =\] \[2\]"),
    ("adapt_and_classify", lambda r: dict(r, support_labels=np.array([0, 1, 1], np.int32)),
     r"support_labels must hold every class 0..2 at least once \(it answers 3-way requests "
     r"only: its head has 3 classes\); missing classes\] \[2\]"),
    ("adapt_and_classify", lambda r: dict(r, support_images=np.minimum(r["support_images"],
                                                                       -1.01)),
     r"support_images must be finite and in \[-1, 1\] \(to within 1e-05, then clipped\); "
     r"got\] \[min -1.01, max -1.01\]"),
    ("adapt_and_classify", lambda r: dict(r, support_labels=np.array([0, 1, 2, 0], np.int32)),
     r"support_labels must hold one label per image of support_images; got labels, "
     r"images =\] \[4 3\]"),
    ("adapt_and_classify", lambda r: dict(r, support_labels=np.array([[0, 1, 2]], np.int32)),
     r"support_labels must have rank 1, shape \[n\]; got shape\] \[1 3\]"),
    ("adapt_and_classify", lambda r: dict(r, support_images=r["support_images"][:2],
                                          support_labels=np.array([0, 1], np.int32)),
     r"support_images must hold between 3 and 12 items .*got n =\] \[2\]"),
    ("adapt_and_classify", lambda r: dict(r, support_images=r["support_images"][..., 0]),
     r"support_images must have rank 4, shape \[n, 28, 28, 1\]; got shape\] \[3 28 28\]"),
    ("adapt", lambda r: dict(r, support_images=np.zeros([3, 32, 32, 1], np.float32)),
     r"support_images must have shape \[n, 28, 28, 1\]; got shape\] \[3 32 32 1\]"),
    ("adapt_and_classify", lambda r: dict(r, support_images=r["support_images"] * 2 + 0.5),
     r"support_images must be finite and in \[-1, 1\]"),
    ("adapt_and_classify", lambda r: dict(r, query_images=np.zeros([2, 28, 28, 3], np.float32)),
     r"query_images must have shape \[n, 28, 28, 1\]; got shape\] \[2 28 28 3\]"),
    ("adapt_and_classify", lambda r: dict(r, query_images=np.zeros([0, 28, 28, 1], np.float32)),
     r"query_images must hold between 1 and 20 items .*got n =\] \[0\]"),
    ("adapt_and_classify", lambda r: dict(r, query_images=np.full([2, 28, 28, 1], np.nan,
                                                                  np.float32)),
     r"query_images must be finite and in \[-1, 1\]"),
    ("adapt_and_classify", lambda r: dict(r, seed=np.array([1, 2], np.int32)),
     r"seed must be an int32 scalar"),
    ("classify", lambda r: dict(r, head_kernel=np.zeros([8, 4], np.float32)),
     r"head_kernel must have shape \[8, 3\]; got shape\] \[8 4\]"),
    ("classify", lambda r: dict(r, conv0_bias=np.full([8], np.inf, np.float32)),
     r"conv0_bias must be finite"),
]


def request(signature: str, change) -> dict:
    base = good_request()
    if signature == "classify":
        base = dict(call(loaded("maml"), "adapt", support_images=base["support_images"],
                         support_labels=base["support_labels"], seed=np.int32(0)),
                    query_images=base["query_images"])
    names = set(loaded("maml").signatures[signature].structured_input_signature[1])
    return {k: v for k, v in change(base).items() if k in names}


class ClassifierBadInputsTest(parameterized.TestCase):

    @parameterized.parameters(*BAD_REQUESTS)
    def test_bad_input_is_invalid_argument_naming_it_and_serving_goes_on(self, signature,
                                                                         change, message):
        model = loaded("maml")
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, message):
            call(model, signature, **request(signature, change))
        out = call(model, signature, **request(signature, lambda r: r))
        self.assertTrue(all(np.all(np.isfinite(v)) for v in out.values()))

    def test_pixels_a_hair_outside_the_range_are_answered_as_if_clipped(self):
        r = request("adapt_and_classify", lambda r: r)
        over = dict(r, support_images=r["support_images"].copy(),
                    query_images=r["query_images"].copy())
        over["support_images"][0, :2, :2, 0] = -1.0000005   # an antialiased resize's overshoot
        over["query_images"][1, 5, 5, 0] = 1.0000005
        self.assertLess(over["support_images"].min(), -1.0)
        clipped = {k: np.clip(v, -1, 1) if "images" in k else v for k, v in over.items()}
        got, want = (call(loaded("maml"), "adapt_and_classify", **x) for x in (over, clipped))
        for key in ("probabilities", "labels"):
            np.testing.assert_array_equal(got[key], want[key])
        metadata = api.read_metadata(exported("maml"))
        self.assertEqual((metadata["ways"], metadata["max_ways"], metadata["image_range"],
                          metadata["image_tolerance"]), (WAYS, WAYS, [-1, 1], 1e-5))

    def test_max_ways_is_refused_for_a_run_with_a_head(self):
        with self.assertRaisesRegex(ValueError, r"--max_ways applies to metric learners, which "
                                                r"have no fixed head; a maml run answers 3-way "
                                                r"requests only"):
            classifier_api.export_classifier(tiny_run("maml"), os.path.join(fixtures.TMP,
                                                                            "unused"),
                                             "never", max_ways=5)

    def test_run_kind_tells_a_few_shot_run_from_a_gan_run(self):
        self.assertEqual(api.run_kind(tiny_run("maml")), "few_shot")
        gan_like = os.path.join(fixtures.TMP, "gan_like_run")
        os.makedirs(gan_like, exist_ok=True)
        with open(os.path.join(gan_like, "config.json"), "w") as f:
            json.dump({"latent_dim": 16, "inner_steps": 2}, f)
        self.assertEqual(api.run_kind(gan_like), "maml_gan")
        self.assertEqual(api.run_kind(os.path.join(fixtures.TMP, "no_run_here")), "maml_gan")
        # The CLI's --max_query reached the export (maml is exported by the CLI).
        self.assertEqual(api.read_metadata(exported("maml"))["max_query"], MAX_QUERY)


if __name__ == "__main__":
    parameterized.absltest.main()
