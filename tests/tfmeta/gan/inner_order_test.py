"""The GAN's inner order: FIGR's critic-then-generator step (``inner_order="discriminator_first"``).

One inner step is checked against the same step written out by hand (the generator's gradient
taken at the stepped critic), and the exact second-order meta-gradient through two such steps of
inner RMSprop against float64 central finite differences, for both players (issue 34 item 6).
"""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import maml_losses, meta_gradients
from tfmeta.algorithms.step import player_order, take_step
from tfmeta.experiments import maml_gan
from tfmeta.gan import gan_objective

H = 1e-6
PLAYERS = ("discriminator", "generator")


def _tiny_gan(loss: str, inner_order: str):
    """A float64 dense GAN on R^3 (tanh / softplus: smooth) and its objective."""
    return toys.real_gan(loss, inner_order=inner_order)


def _params(models):
    return {p: [tf.convert_to_tensor(v) for v in m.trainable_variables]
            for p, m in models.items()}


class InnerOrderTest(parameterized.TestCase):

    def test_the_generator_steps_against_the_stepped_discriminator(self):
        models, objective = _tiny_gan("non-saturating", "discriminator_first")
        _, simultaneous = _tiny_gan("non-saturating", "simultaneous")
        self.assertEqual(player_order(objective, PLAYERS), PLAYERS)
        self.assertIsNone(player_order(simultaneous, PLAYERS))
        lr, batch, seed = 0.3, toys.gan_task(1).inner[0], tf.constant([4, 2], tf.int32)
        params = _params(models)
        optimizers = {p: inner_lib.sgd(lr) for p in PLAYERS}
        states = {p: optimizers[p].init(params[p]) for p in PLAYERS}
        new, _, losses = take_step(objective, optimizers, params, states, batch, seed)

        def gradient(player, at):
            with tf.GradientTape() as tape:
                tape.watch(at[player])
                loss = objective(at, batch, seed)[player]
            return tape.gradient(loss, at[player]), loss

        g_d, loss_d = gradient("discriminator", params)
        stepped_d = [w - lr * g for w, g in zip(params["discriminator"], g_d)]
        at_stepped = {"generator": params["generator"], "discriminator": stepped_d}
        g_g, loss_g = gradient("generator", at_stepped)
        for got, want in zip(new["discriminator"], stepped_d):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-14)
        for got, w, g in zip(new["generator"], params["generator"], g_g):
            np.testing.assert_allclose(got.numpy(), (w - lr * g).numpy(), rtol=1e-12, atol=1e-14)
        self.assertAlmostEqual(float(losses["discriminator"]), float(loss_d), places=12)
        self.assertAlmostEqual(float(losses["generator"]), float(loss_g), places=12)
        # Simultaneously, the generator's step is taken against the unstepped critic: another step.
        other, _, _ = take_step(simultaneous, optimizers, params, states, batch, seed)
        np.testing.assert_allclose(other["discriminator"][0].numpy(),
                                   new["discriminator"][0].numpy(), rtol=1e-12)
        self.assertGreater(max(float(tf.reduce_max(tf.abs(a - b))) for a, b in
                               zip(other["generator"], new["generator"])), 1e-6)

    @parameterized.parameters("non-saturating", "wgan-gp")
    def test_second_order_meta_gradient_matches_finite_differences(self, loss):
        models, objective = _tiny_gan(loss, "discriminator_first")
        task = toys.gan_task(2)
        inner = inner_lib.rmsprop(0.05, epsilon=1e-3)
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner,
                                     inner_steps=2)
        for player in PLAYERS:
            toys.assert_matches_finite_differences(
                models, grads, lambda: maml_losses(objective, _params(models), task, inner,
                                                   inner_steps=2)[player],
                player, h=H, label=loss)

    def test_unknown_orders_are_refused(self):
        models, objective = _tiny_gan("minimax", "simultaneous")
        with self.assertRaisesRegex(ValueError, "unknown inner_order 'generator_first'; valid"):
            gan_objective(models["generator"], models["discriminator"],
                          inner_order="generator_first")
        objective.player_order = ("generator",)
        with self.assertRaisesRegex(ValueError, r"player_order \('generator',\) must name each"):
            player_order(objective, PLAYERS)
        with self.assertRaisesRegex(ValueError, "inner_order"):
            maml_gan.MamlGanConfig(inner_order="both")

    def test_a_run_builds_the_order_it_is_given(self):
        config = maml_gan.MamlGanConfig(generator_width=4, discriminator_width=4, latent_dim=4,
                                        inner_order="discriminator_first")
        setup = maml_gan.build(config, (8, 8, 1))
        self.assertEqual(setup.objective.player_order, PLAYERS)
        plain = maml_gan.build(maml_gan.MamlGanConfig(generator_width=4, discriminator_width=4,
                                                      latent_dim=4), (8, 8, 1))
        self.assertFalse(hasattr(plain.objective, "player_order"))
