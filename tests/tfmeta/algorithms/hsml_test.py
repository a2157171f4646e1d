"""HSML: a gate of ones is MAML, the exact meta-gradient, clustering and the engine's checks."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner, meta_gradients
from tfmeta.algorithms.hsml import cluster, hsml, hsml_variables
from tfmeta.algorithms.maml import modulate
from tfmeta.types import Reused, Task

H = 1e-6
F64 = "float64"


def _regressor():
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((1,), dtype=F64),
                             keras.layers.Dense(4, activation="tanh", dtype=F64),
                             keras.layers.Dense(1, dtype=F64)])


def _objective(model):
    def objective(params, batch, seed):
        del seed
        x, y = batch
        out = model.stateless_call(params["model"], [], x)[0]
        return {"model": tf.reduce_mean(tf.square(out - y))}
    return objective


def _task(seed=0, shots=5):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (2 * shots, 1))
    y = np.sin(1.5 * x) + 0.3 * x
    support = (tf.constant(x[:shots]), tf.constant(y[:shots]))
    query = (tf.constant(x[shots:]), tf.constant(y[shots:]))
    return Task(inner=Reused(support), val=Reused(query), seed=tf.constant([seed, 1]))


def _describe(batch):
    return tf.concat(batch, axis=-1)


def _hsml(model, gate="weight", reconstruction_weight=0.5):
    weights = hsml_variables([v.shape for v in model.trainable_variables], input_dim=2,
                             hidden=3, encoder_hidden=3, clusters=(3, 2), gate=gate, seed=2,
                             dtype=F64)
    return weights, hsml(weights, _describe, sigma=1.5,
                         reconstruction_weight=reconstruction_weight, activation="tanh")


class HSMLTest(absltest.TestCase):

    def test_gate_of_ones_without_reconstruction_equals_maml(self):
        model = _regressor()
        weights, modulation = _hsml(model, reconstruction_weight=0.0)
        for name, v in weights.items():
            if name.startswith("gate_w"):
                v.assign(tf.zeros_like(v))
            elif name.startswith("gate_b"):
                v.assign(tf.fill(v.shape, tf.constant(40.0, tf.float64)))  # sigmoid: 1.0
        task, variables = _task(), {"model": model.trainable_variables}
        inner = inner_lib.sgd(0.3)
        got, got_meta, _ = meta_gradients(_objective(model), variables, task, inner, inner_steps=2,
                                          modulation={"model": modulation})
        want, want_meta, _ = meta_gradients(_objective(model), variables, task, inner,
                                            inner_steps=2)
        self.assertEqual(float(got_meta["model"]), float(want_meta["model"]))
        n = len(model.trainable_variables)
        for a, b in zip(got["model"][:n], want["model"][:n]):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-14)
        self.assertGreater(max(float(tf.reduce_max(tf.abs(g))) for g in want["model"]), 1e-3)
        # the default gates (about 0.5) tailor the start: not MAML
        _, modulation = _hsml(model, reconstruction_weight=0.0)
        _, other, _ = meta_gradients(_objective(model), variables, task, inner, inner_steps=2,
                                     modulation={"model": modulation})
        self.assertGreater(abs(float(other["model"]) - float(want_meta["model"])), 1e-3)

    def test_meta_gradient_matches_float64_finite_differences(self):
        for gate in ("weight", "unit"):
            model = _regressor()
            weights, modulation = _hsml(model, gate=gate)
            task, variables = _task(3), {"model": model.trainable_variables}
            objective, inner = _objective(model), inner_lib.sgd(0.3)

            def loss():
                return float(meta_gradients(objective, variables, task, inner, inner_steps=2,
                                            modulation={"model": modulation})[1]["model"])

            grads, _, _ = meta_gradients(objective, variables, task, inner, inner_steps=2,
                                         modulation={"model": modulation})
            targets = list(model.trainable_variables) + list(weights.values())
            names = [v.path for v in model.trainable_variables] + list(weights)
            checked = 0
            for name, var, grad in zip(names, targets, grads["model"]):
                if not any(k in name for k in ("kernel", "enc_w1", "dec_w2", "pool_w",
                                               "centres_1", "level_w_2", "root_w", "gate_w_0",
                                               "gate_b_2")):
                    continue
                flat = var.numpy().ravel()
                for index in range(0, flat.size, max(1, flat.size // 3)):
                    base = var.numpy()
                    bumped = base.ravel().copy()
                    bumped[index] += H
                    var.assign(bumped.reshape(base.shape))
                    up = loss()
                    bumped[index] -= 2 * H
                    var.assign(bumped.reshape(base.shape))
                    down = loss()
                    var.assign(base)
                    numeric = (up - down) / (2 * H)
                    analytic = float(grad.numpy().ravel()[index])
                    self.assertAlmostEqual(analytic, numeric,
                                           delta=1e-5 * max(1.0, abs(numeric)),
                                           msg=f"{gate} {name}[{index}]")
                    checked += 1
            self.assertGreater(checked, 20)

    def test_assignments_are_distributions_that_follow_the_nearest_centre(self):
        model = _regressor()
        weights, _ = _hsml(model)
        centres = weights["centres_1"].numpy()
        for k in range(centres.shape[0]):
            _, assignments = cluster(weights, tf.constant(centres[k]), sigma=0.2)
            self.assertEqual([a.shape.as_list() for a in assignments], [[1, 3], [3, 2]])
            for a in assignments:
                np.testing.assert_allclose(a.numpy().sum(axis=1), 1.0, rtol=1e-12)
            self.assertEqual(int(np.argmax(assignments[0].numpy()[0])), k)

    def test_tailored_parameters_keep_their_shapes_scalars_included(self):
        shapes = [[], [3], [2, 3], [3, 3, 1, 2]]
        params = [tf.ones(s, tf.float64) for s in shapes]
        support = (tf.ones([4, 1], tf.float64), tf.zeros([4, 1], tf.float64))
        for gate in ("weight", "unit"):
            weights = hsml_variables(shapes, input_dim=2, hidden=3, encoder_hidden=3,
                                     clusters=(2,), gate=gate, dtype=F64)
            tailored, _ = hsml(weights, _describe).apply(params, support)
            self.assertEqual([t.shape.as_list() for t in tailored], shapes, gate)

    def test_modulation_variables_are_trained_by_the_learner(self):
        model = _regressor()
        weights, modulation = _hsml(model)
        learner = MetaLearner({"model": model.trainable_variables}, _objective(model),
                              inner_lib.sgd(0.3), outer=lambda: keras.optimizers.Adam(0.01),
                              inner_steps=1, modulation={"model": modulation})
        before = {n: v.numpy().copy() for n, v in weights.items()}
        tasks = tf.nest.map_structure(lambda *t: tf.stack(t), _task(0), _task(1))
        learner.train_step(tasks)   # a zero bias gives its gate no gradient: a second update
        learner.train_step(tasks)
        moved = [n for n, v in weights.items() if np.max(np.abs(v.numpy() - before[n])) > 0]
        self.assertEqual(sorted(moved), sorted(weights))

    def test_bad_modulations_are_one_clear_error(self):
        model = _regressor()
        _, modulation = _hsml(model)
        with self.assertRaisesRegex(ValueError, r"players \['critic'\] that are not among"):
            modulate({"critic": modulation}, {"model": []}, _task().inner.batch)
        with self.assertRaisesRegex(ValueError, "reptile cannot train a task modulation"):
            MetaLearner({"model": model.trainable_variables}, _objective(model),
                        inner_lib.sgd(0.3), outer=lambda: keras.optimizers.SGD(1.0),
                        algorithm="reptile", inner_steps=1, modulation={"model": modulation})
        with self.assertRaisesRegex(ValueError, r"clusters must be one or more ints >= 1"):
            hsml_variables([[1, 4]], input_dim=2, clusters=(4, 0))
        with self.assertRaisesRegex(ValueError, r"gate must be one of \('weight', 'unit'\)"):
            hsml_variables([[1, 4]], input_dim=2, gate="layer")


if __name__ == "__main__":
    absltest.main()
