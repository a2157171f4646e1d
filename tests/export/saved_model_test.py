"""The exported SavedModel adapts inside the graph exactly like tfmeta does in Python.

Golden property, for every kind of served adaptation: the reloaded SavedModel's
``adapt_and_generate`` equals tfmeta's own adaptation
(``maml_gan.adaptation_trajectory`` with the run's objective and inner
optimizers) on the same support set and seed, composed in the test from the two
documented rules the export shares with it (``request_seeds``,
``support_batches``). The kinds: the run's configured inner optimizer (maml;
fomaml adapts with the very same optimizer, ``build._inner_of_config``, and
differs only in meta-training, so it is not exported again here), Meta-SGD's
learned per-parameter rates, Reptile's inner Adam, fomaml's meta-learned per-layer
step sizes and maml with a spectrally normalized discriminator (``spectral_norm``).
"""

import concurrent.futures
import dataclasses
import os
import threading

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from export import api
from export.module import AdaptationModule, request_seeds, support_batches
from tests.export import fixtures
from tfmeta.experiments import maml_gan as lib
from tfmeta.gan import gan_objective, generate


def python_adaptation(setup, support, seed, steps):
    """tfmeta's adaptation in eager Python: the adapted generator's weights."""
    batch_seed, adapt_seed, _ = request_seeds(tf.constant(seed, tf.int32))
    batches = support_batches(tf.constant(support), steps, setup.config.batch_size, batch_seed)
    trajectory = lib.adaptation_trajectory(setup, lib.params_of(setup), batches, adapt_seed,
                                           steps)
    return trajectory[-1]["generator"]


def python_samples(setup, support, num_samples, seed, steps):
    g_params = python_adaptation(setup, support, seed, steps)
    z = tf.random.stateless_normal([num_samples, setup.config.latent_dim],
                                   request_seeds(tf.constant(seed, tf.int32))[2])
    return generate(setup.generator, g_params, z).numpy(), z


def call(model, signature, **inputs):
    return {k: v.numpy() for k, v in model.signatures[signature](**inputs).items()}


class GoldenTest(parameterized.TestCase):

    @parameterized.parameters("maml", "metasgd", "reptile", "fomaml_scales", "maml_sn")
    def test_reloaded_savedmodel_adapts_like_python(self, algorithm):
        model = fixtures.loaded(algorithm)
        setup, _ = lib.load_run(fixtures.tiny_run(algorithm))
        steps = setup.config.inner_steps
        metadata = api.read_metadata(fixtures.exported(algorithm))
        self.assertEqual(metadata["adapt_steps"], steps)
        self.assertEqual(metadata["inner_lrs"], setup.config.inner_lrs())
        # n < batch_size (every image once per step) and n > batch_size (random subsets).
        for n, num_samples, seed in ((5, 6, 3), (12, 4, -7)):
            support = fixtures.support_images(n)
            got = call(model, "adapt_and_generate", support_images=tf.constant(support),
                       num_samples=tf.constant(num_samples), seed=tf.constant(seed))["images"]
            want, z = python_samples(setup, support, num_samples, seed, steps)
            self.assertEqual(got.shape, (num_samples, 28, 28, 1))
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
            prior = call(model, "serving_default", z=z)["images"]
            self.assertGreater(np.abs(got - prior).max(), 1e-4, "adaptation changed nothing")

    def test_a_spectrally_normalized_run_serves_its_normalized_adaptation(self):
        # The golden test above has teeth for maml_sn: without the normalization the same
        # run adapts to other weights.
        setup, _ = lib.load_run(fixtures.tiny_run("maml_sn"))
        plain = setup._replace(objective=gan_objective(setup.generator, setup.discriminator,
                                                       loss=setup.config.loss))
        support = fixtures.support_images(12)
        normalized, unnormalized = (python_adaptation(s, support, 5, setup.config.inner_steps)
                                    for s in (setup, plain))
        self.assertGreater(max(float(np.abs(a - b).max())
                               for a, b in zip(normalized, unnormalized)), 1e-5)

    def test_meta_sgd_learned_rates_are_exported_variables(self):
        model = fixtures.loaded("metasgd")
        setup, _ = lib.load_run(fixtures.tiny_run("metasgd"))
        for player in ("generator", "discriminator"):
            run_rates = [v.numpy() for v in setup.inner[player].variables]
            saved = [v.numpy() for v in model.learning_rates[player]]
            self.assertGreater(np.std(np.concatenate([r.ravel() for r in run_rates])), 1e-4)
            for a, b in zip(run_rates, saved):
                np.testing.assert_array_equal(a, b)

    def test_adapt_returns_the_adapted_generator_weights_by_name(self):
        model = fixtures.loaded("maml")
        setup, _ = lib.load_run(fixtures.tiny_run("maml"))
        support = fixtures.support_images(9)
        got = call(model, "adapt", support_images=tf.constant(support), seed=tf.constant(11))
        want = python_adaptation(setup, support, 11, setup.config.inner_steps)
        names = api.read_metadata(fixtures.exported("maml"))["generator_outputs"]
        self.assertEqual(names, ["fc_kernel", "fc_bias", "deconv1_kernel", "deconv1_bias",
                                 "deconv2_kernel", "deconv2_bias"])
        self.assertEqual(sorted(got), sorted(names))
        for name, w in zip(names, want):
            np.testing.assert_allclose(got[name], w.numpy(), atol=1e-6, rtol=0)
        # adapt_and_generate_from_z = the generator at those weights.
        z = tf.random.stateless_normal([3, 16], [1, 2])
        images = call(model, "adapt_and_generate_from_z", support_images=tf.constant(support),
                      z=z, seed=tf.constant(11))["images"]
        np.testing.assert_allclose(images, generate(setup.generator, want, z).numpy(),
                                   atol=1e-5, rtol=0)

    def test_same_request_gives_same_images_and_seeds_differ(self):
        model = fixtures.loaded("maml")
        support = tf.constant(fixtures.support_images(6))
        a = call(model, "adapt_and_generate", support_images=support,
                 num_samples=tf.constant(4), seed=tf.constant(1))["images"]
        b = call(model, "adapt_and_generate", support_images=support,
                 num_samples=tf.constant(4), seed=tf.constant(1))["images"]
        c = call(model, "adapt_and_generate", support_images=support,
                 num_samples=tf.constant(4), seed=tf.constant(2))["images"]
        np.testing.assert_array_equal(a, b)
        self.assertGreater(np.abs(a - c).max(), 1e-3)

    def test_32_concurrent_requests_each_return_what_they_return_alone(self):
        model = fixtures.loaded("maml")
        fn = model.signatures["adapt_and_generate"]
        requests = [(fixtures.support_images(1 + i % 11, offset=i % 7), 1 + i % 5, 100 + i)
                    for i in range(32)]

        def answer(request):
            support, num_samples, seed = request
            return fn(support_images=tf.constant(support), num_samples=tf.constant(num_samples),
                      seed=tf.constant(seed))["images"].numpy()

        alone = [answer(r) for r in requests]
        barrier = threading.Barrier(32)

        def together(request):
            barrier.wait()
            return answer(request)

        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            concurrent_answers = list(pool.map(together, requests))
        for i, (a, b) in enumerate(zip(alone, concurrent_answers)):
            np.testing.assert_array_equal(a, b, err_msg=f"request {i}")
        self.assertGreater(np.abs(alone[0][:1] - alone[1][:1]).max(), 1e-3)

    def test_signatures_assign_no_variable(self):
        model = fixtures.loaded("maml")
        graph_defs = [model.signatures[name].graph.as_graph_def()
                      for name in ("serving_default", "adapt_and_generate",
                                   "adapt_and_generate_from_z", "adapt")]
        assigning = {"AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
                     "Assign", "ResourceScatterUpdate", "ResourceApplyGradientDescent"}
        ops = set()
        for graph_def in graph_defs:
            ops.update(n.op for n in graph_def.node)
            for function in graph_def.library.function:
                ops.update(n.op for n in function.node_def)
        self.assertIn("ReadVariableOp", ops)
        self.assertFalse(ops & assigning, f"assigning ops in the serving graph: {ops & assigning}")
        self.assertNotIn("PyFunc", ops)
        self.assertNotIn("EagerPyFunc", ops)


class AnyAdaptFunctionTest(parameterized.TestCase):

    def test_module_serves_whatever_adapt_function_it_is_given(self):
        """No experiment inside: a hand-written adapt function is what the export runs."""
        setup, _ = lib.load_run(fixtures.tiny_run("maml"))
        generator = setup.generator

        def shift_by_batch_mean(params, batches, seed):
            shift = 0.5 * tf.reduce_mean(batches) + 0.0 * tf.cast(seed[0], tf.float32)
            return {"generator": [p + shift for p in params["generator"]]}

        module = AdaptationModule(generator, {"generator": generator.trainable_variables},
                                  shift_by_batch_mean, latent_dim=16, image_shape=(28, 28, 1),
                                  batch_size=4, adapt_steps=3, max_samples=8, max_support=8)
        path = os.path.join(fixtures.TMP, "any_adapt_fn")
        tf.saved_model.save(module, path, signatures=module.signatures())
        model = tf.saved_model.load(path)
        support = fixtures.support_images(6)
        got = call(model, "adapt", support_images=tf.constant(support), seed=tf.constant(2))
        batches = support_batches(tf.constant(support), 3, 4, request_seeds(tf.constant(2))[0])
        shift = 0.5 * tf.reduce_mean(batches).numpy()
        self.assertGreater(abs(shift), 1e-3)
        self.assertEqual(sorted(model.generator_weights), sorted(got))
        for name, variable in zip(module.output_names, generator.trainable_variables):
            np.testing.assert_allclose(got[name], variable.numpy() + shift, atol=1e-6, rtol=0)


class ModuleErrorsTest(parameterized.TestCase):

    # The library names the setting in backticks; the CLI shows it as its flag
    # (``cli_test``: ``error: --adapt_steps must be ...``).
    @parameterized.parameters(
        (dict(adapt_steps=0), "`adapt_steps` must be an integer in \\[1, 100\\], got 0"),
        (dict(adapt_steps=101), "`adapt_steps` must be an integer in \\[1, 100\\], got 101"),
        (dict(adapt_steps=2, max_samples=0), "`max_samples` must be an integer"),
        (dict(adapt_steps=2, max_support=-3), "`max_support` must be an integer"),
    )
    def test_bad_export_bounds_name_the_setting(self, kwargs, message):
        setup, _ = lib.load_run(fixtures.tiny_run("maml"))
        with self.assertRaisesRegex(ValueError, message):
            api.adaptation_module(setup, **kwargs)

    def test_default_steps_are_the_runs_serve_steps_else_its_inner_steps(self):
        setup, _ = lib.load_run(fixtures.tiny_run("maml"))
        self.assertIsNone(setup.config.serve_steps)
        self.assertEqual(api.adaptation_module(setup).adapt_steps, setup.config.inner_steps)
        served = setup._replace(config=dataclasses.replace(setup.config, serve_steps=3))
        self.assertEqual(api.adaptation_module(served).adapt_steps, 3)
        self.assertEqual(api.adaptation_module(served, adapt_steps=2).adapt_steps, 2)
        # The CPU recipe serves 80 steps (docs/results/gan_ten_steps.md); the paper's, k.
        self.assertEqual(lib.MamlGanConfig(**lib.PRESETS["cpu"].overrides).served_steps(), 80)
        self.assertEqual(lib.MamlGanConfig().served_steps(), 10)
        with self.assertRaisesRegex(ValueError, r"`serve_steps` must be an integer in \[1, 100\]"):
            lib.MamlGanConfig(serve_steps=101)

    def test_export_of_a_missing_run_fails_before_writing(self):
        base = os.path.join(fixtures.TMP, "missing_export")
        with self.assertRaisesRegex(FileNotFoundError, "no MAML-GAN run"):
            api.export_run(os.path.join(fixtures.TMP, "no_such_run"), base, "model")
        self.assertFalse(os.path.exists(base) and os.listdir(base))
