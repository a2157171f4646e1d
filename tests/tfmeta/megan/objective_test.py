"""MeGAN's N+1 objective: its losses against numpy, when fakes enter, exact meta-gradients.

The N+1 loss with its real:fake weighting and the generator's non-saturating
loss equal numpy references on hand-built logits; the classifier's inner loss
is MAML's cross-entropy before ``fakes_from`` and the weighted N+1 loss from it
on, and the adapted classifier depends on the generator only from that step;
the second-order meta-gradient reaches the generator's initialization and
equals float64 central finite differences (softplus Conv-4, tiny generator);
first order, the real query loss gives the generator nothing (refused) while
the hybrid loss does; the unrolled and looped inner loops give the same losses.
"""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from tfmeta import inner as inner_lib
from tfmeta.algorithms import maml_losses, meta_gradients
from tfmeta.algorithms.adapt import adaptation_trajectory
from tfmeta.classify import PLAYER, cross_entropy, logits_of
from tfmeta.megan import GENERATOR, generator_loss, megan_objective, n_plus_one_loss
from tfmeta.nets import build_conv4
from tfmeta.nets.megan import build_conditional_generator
from tfmeta.types import Reused, Task

WAYS, SHOTS, QUERIES, SIZE = 3, 1, 2, 8


def np_cross_entropy(logits, labels):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels]


def tiny(conditioning="image", outer_loss="real", fakes_from=1, seed=0, **kw):
    """A float64 softplus Conv-4 (N+1 outputs), a tiny generator and their objective."""
    keras.utils.set_random_seed(seed)
    classifier = build_conv4(WAYS + 1, (SIZE, SIZE, 1), filters=4, activation="softplus",
                             dtype="float64")
    generator = build_conditional_generator((SIZE, SIZE, 1), ways=WAYS,
                                            conditioning=conditioning, noise_dim=3, width=2,
                                            dtype="float64")
    objective = megan_objective(classifier, generator, ways=WAYS, fakes_from=fakes_from,
                                outer_loss=outer_loss, **kw)
    return classifier, generator, objective


def task(seed=1):
    def images(n, s):
        return tf.random.stateless_uniform([n, SIZE, SIZE, 1], [seed, s], -1, 1,
                                           dtype=tf.float64)
    support = (images(WAYS * SHOTS, 1), tf.repeat(tf.range(WAYS), SHOTS))
    query = (images(WAYS * QUERIES, 2), tf.repeat(tf.range(WAYS), QUERIES))
    return Task(inner=Reused(support), val=Reused(query + support),
                seed=tf.constant([4, 5], tf.int32))


def params(*models):
    return {name: [tf.convert_to_tensor(v) for v in model.trainable_variables]
            for name, model in zip((PLAYER, GENERATOR), models)}


class LossesTest(absltest.TestCase):

    def test_n_plus_one_loss_with_3_to_1_weighting_equals_numpy(self):
        real = np.array([[2.0, 0.5, -1.0, 0.3], [0.1, 1.5, 0.2, -0.4],
                         [-0.3, 0.0, 2.2, 0.9]])
        labels = np.array([0, 1, 2])
        fake = np.array([[0.4, 0.2, -0.1, 1.1], [1.0, -2.0, 0.5, 0.0]])
        expected = ((3.0 * np_cross_entropy(real, labels).sum()
                     + 1.0 * np_cross_entropy(fake, np.array([3, 3])).sum())
                    / (3.0 * 3 + 1.0 * 2))
        got = n_plus_one_loss(tf.constant(real), tf.constant(labels), tf.constant(fake),
                              real_weight=3.0, fake_weight=1.0)
        self.assertAlmostEqual(float(got), expected, places=12)
        # Equal counts: 0.75 of the real mean and 0.25 of the fake mean.
        two = n_plus_one_loss(tf.constant(real[:2]), tf.constant(labels[:2]),
                              tf.constant(fake))
        self.assertAlmostEqual(float(two),
                               0.75 * np_cross_entropy(real[:2], labels[:2]).mean()
                               + 0.25 * np_cross_entropy(fake, np.array([3, 3])).mean(),
                               places=12)

    def test_zero_fake_weight_leaves_the_real_cross_entropy(self):
        real = tf.constant([[1.0, 0.0, 0.5], [0.2, 0.9, -0.3]], tf.float64)
        fake = tf.constant([[5.0, -5.0, 0.0]], tf.float64)
        got = n_plus_one_loss(real, tf.constant([1, 0]), fake, fake_weight=0.0)
        self.assertAlmostEqual(float(got), float(cross_entropy(real, tf.constant([1, 0]))),
                               places=12)

    def test_generator_loss_is_minus_log_of_the_real_classes_mass(self):
        fake = np.array([[0.4, 0.2, -0.1, 1.1], [1.0, -2.0, 0.5, 0.0]])
        p = np.exp(fake) / np.exp(fake).sum(axis=1, keepdims=True)
        expected = np.mean(-np.log(1.0 - p[:, -1]))
        self.assertAlmostEqual(float(generator_loss(tf.constant(fake))), expected, places=12)

    def test_classifier_with_the_wrong_number_of_outputs_is_refused(self):
        classifier = build_conv4(WAYS, (SIZE, SIZE, 1), filters=2)
        generator = build_conditional_generator((SIZE, SIZE, 1), ways=WAYS, width=2)
        with self.assertRaisesRegex(ValueError, "needs 4 outputs .* got 3"):
            megan_objective(classifier, generator, ways=WAYS)


class InnerLossTest(parameterized.TestCase):

    @parameterized.named_parameters(("python_step", int), ("tensor_step", tf.constant))
    def test_fakes_enter_the_classifier_loss_only_from_fakes_from(self, as_step):
        classifier, generator, objective = tiny(fakes_from=2)
        p, t = params(classifier, generator), task()
        images, labels = t.inner.batch
        real_ce = float(cross_entropy(logits_of(classifier, p[PLAYER], images), labels))
        for step in range(4):
            losses = objective(p, (images, labels), t.seed, step=as_step(step))
            fakes = objective.generate(p, images, labels, t.seed)
            weighted = n_plus_one_loss(logits_of(classifier, p[PLAYER], images), labels,
                                       logits_of(classifier, p[PLAYER], fakes))
            want = real_ce if step < 2 else float(weighted)
            self.assertAlmostEqual(float(losses[PLAYER]), want, places=12, msg=f"step {step}")
            self.assertNotAlmostEqual(float(weighted), real_ce, places=3)

    def test_adapted_classifier_depends_on_the_generator_only_from_fakes_from(self):
        classifier, generator, objective = tiny(fakes_from=2)
        t = task()
        with tf.GradientTape(persistent=True) as tape:
            p = params(classifier, generator)
            tape.watch(p[GENERATOR])
            trajectory = adaptation_trajectory(objective, p, t.inner, inner_lib.sgd(0.3),
                                               inner_steps=4, seed=t.seed)
            sums = [tf.add_n([tf.reduce_sum(w) for w in at[PLAYER]]) for at in trajectory]
        for j, total in enumerate(sums):
            grads = tape.gradient(total, p[GENERATOR],
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            norm = float(tf.linalg.global_norm(grads))
            if j <= 2:   # steps 0 and 1 are MAML's: no fakes in the classifier's loss
                self.assertEqual(norm, 0.0, msg=f"after {j} steps")
            else:
                self.assertGreater(norm, 1e-8, msg=f"after {j} steps")

    def test_prototype_label_and_none_conditionings_adapt_too(self):
        for conditioning in ("prototype", "label", "none"):
            classifier, generator, objective = tiny(conditioning=conditioning)
            t = task()
            losses = maml_losses(objective, params(classifier, generator), t,
                                 inner_lib.sgd(0.3), inner_steps=2, step_weights="final")
            self.assertTrue(np.isfinite(float(losses[PLAYER])), conditioning)


def meta_loss(objective, classifier, generator, t, steps, first_order=False):
    inner = {PLAYER: inner_lib.sgd(0.3), GENERATOR: inner_lib.sgd(0.2)}
    return maml_losses(objective, params(classifier, generator), t, inner, inner_steps=steps,
                       first_order=first_order, step_weights="final")


class MetaGradientTest(parameterized.TestCase):

    @parameterized.named_parameters(("real", "real"), ("fakes", "fakes"), ("hybrid", "hybrid"))
    def test_second_order_meta_gradient_matches_finite_differences(self, outer_loss):
        classifier, generator, objective = tiny(outer_loss=outer_loss, fakes_from=1)
        t, steps = task(), 3
        inner = {PLAYER: inner_lib.sgd(0.3), GENERATOR: inner_lib.sgd(0.2)}
        grads, _, _ = meta_gradients(objective, {PLAYER: classifier.trainable_variables,
                                                 GENERATOR: generator.trainable_variables},
                                     t, inner, inner_steps=steps, step_weights="final")
        rng = np.random.default_rng(0)
        for player, model in ((GENERATOR, generator), (PLAYER, classifier)):
            variables = model.trainable_variables
            direction = [rng.standard_normal(v.shape) for v in variables]
            analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads[player], direction))
            start = [v.numpy().copy() for v in variables]
            values = []
            for sign in (1.0, -1.0):
                for v, s, d in zip(variables, start, direction):
                    v.assign(s + sign * 1e-6 * d)
                values.append(float(meta_loss(objective, classifier, generator, t,
                                              steps)[player]))
            for v, s in zip(variables, start):
                v.assign(s)
            numeric = (values[0] - values[1]) / 2e-6
            self.assertGreater(abs(analytic), 1e-4, msg=player)
            self.assertLess(abs(analytic - numeric) / abs(analytic), 1e-5, msg=player)

    def test_first_order_real_loss_gives_the_generator_no_meta_gradient(self):
        classifier, generator, objective = tiny(outer_loss="real")
        variables = {PLAYER: classifier.trainable_variables,
                     GENERATOR: generator.trainable_variables}
        with self.assertRaisesRegex(ValueError, "player 'generator' does not depend"):
            meta_gradients(objective, variables, task(), inner_lib.sgd(0.3), inner_steps=2,
                           first_order=True, step_weights="final")

    def test_first_order_hybrid_trains_both_players(self):
        classifier, generator, objective = tiny(outer_loss="hybrid")
        variables = {PLAYER: classifier.trainable_variables,
                     GENERATOR: generator.trainable_variables}
        grads, meta, _ = meta_gradients(objective, variables, task(), inner_lib.sgd(0.3),
                                        inner_steps=2, first_order=True, step_weights="final")
        for player in (PLAYER, GENERATOR):
            self.assertGreater(float(tf.linalg.global_norm(grads[player])), 1e-8, player)
        self.assertNotAlmostEqual(float(meta[PLAYER]), float(meta[GENERATOR]), places=6)

    def test_unrolled_and_looped_inner_loops_give_the_same_meta_losses(self):
        # In the symbolic loop the step is a tensor, so the fakes' weight takes the tf.where
        # path. Gradients through the loop equal the unrolled ones: the engine's tests.
        classifier, generator, objective = tiny(outer_loss="fakes", fakes_from=1)
        results = []
        for unroll in (True, False):
            fn = tf.function(lambda t, unroll=unroll: maml_losses(
                objective, params(classifier, generator), t, inner_lib.sgd(0.3), inner_steps=3,
                step_weights="uniform", unroll=unroll))
            results.append(fn(task()))
        for player in (PLAYER, GENERATOR):
            self.assertAlmostEqual(float(results[0][player]), float(results[1][player]),
                                   places=10)
        with_fakes_off = tf.function(lambda t: maml_losses(
            megan_objective(classifier, generator, ways=WAYS, fakes_from=3, outer_loss="fakes"),
            params(classifier, generator), t, inner_lib.sgd(0.3), inner_steps=3,
            step_weights="uniform", unroll=False))(task())
        self.assertNotAlmostEqual(float(results[1][PLAYER]), float(with_fakes_off[PLAYER]),
                                  places=4)


if __name__ == "__main__":
    absltest.main()
