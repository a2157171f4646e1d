"""MetaSGD-GAN: the meta-gradient with respect to both players' learned inner rates is exact.

Issue 34 item 3 asks whether MetaSGD-GAN's generator rates stay at their initial value because
the minimax loss saturates or because of a defect. These tests check the library's part on a
tiny float64 GAN with smooth activations and the real GAN objective (every loss of
``tfmeta.gan``): each player's meta-gradient with respect to each of its rate tensors, second
and first order, against central finite differences, and that one outer step moves every rate
of both players by exactly its gradient.
"""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner, maml_losses, meta_gradients
from tfmeta.gan import gan_objective
from tfmeta.nets import dcgan
from tfmeta.types import Task

H = 1e-6   # FD round-off: about 1e-16 / H = 1e-10 (the atol)
PLAYERS = ("discriminator", "generator")


def _tiny_gan(loss: str):
    """A float64 dense GAN on R^3 (tanh / softplus: smooth) and its objective."""
    return toys.real_gan(loss)


def _tiny_dcgan(loss: str):
    """The runs' DCGAN pair (LeakyReLU) at width 2 on 8x8 images, float64, and its objective."""
    g = dcgan.build_generator(4, (8, 8, 1), 2, dtype="float64", seed=0)
    d = dcgan.build_discriminator((8, 8, 1), 2, dtype="float64", seed=10)
    return {"generator": g, "discriminator": d}, gan_objective(g, d, loss=loss)


def _image_task() -> Task:
    images = lambda s: tf.random.stateless_uniform([1, 3, 8, 8, 1], [s, 0], -1.0, 1.0,  # noqa
                                                   tf.float64)
    return Task(inner=images(1), val=images(2), seed=tf.constant([3, 7], tf.int32))


def _rates(models):
    """Meta-SGD rates of both players, a different value per entry (0.02-0.2)."""
    rates = {p: inner_lib.meta_sgd_learning_rates(m.trainable_variables, 0.05, name=f"{p}_lr")
             for p, m in models.items()}
    for k, p in enumerate(sorted(rates)):
        for i, v in enumerate(rates[p]):
            v.assign(tf.random.stateless_uniform(v.shape, [k, i], 0.02, 0.2, tf.float64))
    return rates


def _meta_loss(objective, models, task, inner, player):
    params = {p: [tf.convert_to_tensor(v) for v in m.trainable_variables]
              for p, m in models.items()}
    return float(maml_losses(objective, params, task, inner, inner_steps=1)[player])


def _fd_along(rate, direction, loss_fn):
    """Central difference of ``loss_fn`` along ``direction`` in the rate variable ``rate``."""
    base = rate.numpy().copy()
    values = []
    for sign in (1.0, -1.0):
        rate.assign(base + sign * H * direction)
        values.append(loss_fn())
    rate.assign(base)
    return (values[0] - values[1]) / (2 * H)


class MetaSgdRateGradientTest(parameterized.TestCase):

    @parameterized.product(loss=["minimax", "non-saturating", "wgan-gp"],
                           first_order=[False, True])
    def test_rate_meta_gradient_of_both_players_matches_finite_differences(self, loss,
                                                                          first_order):
        # With one inner step the adapted parameters are p - a * g, g independent of the rates
        # a: the first-order meta-gradient w.r.t. the rates is exact too.
        self._check_rate_gradients(*_tiny_gan(loss), toys.gan_task(1), loss, first_order)

    def test_dcgan_rate_meta_gradient_matches_finite_differences_under_minimax(self):
        # The runs' own architecture and loss (MetaSGD-GAN is run with `loss`=minimax).
        self._check_rate_gradients(*_tiny_dcgan("minimax"), _image_task(), "minimax", False)

    def _check_rate_gradients(self, models, objective, task, loss, first_order):
        rates = _rates(models)
        inner = {p: inner_lib.meta_sgd(rates[p]) for p in models}
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner,
                                     inner_steps=1, first_order=first_order)
        rng = np.random.default_rng(0)
        for player in PLAYERS:
            n = len(models[player].trainable_variables)
            self.assertLen(grads[player], 2 * n)
            for i, rate in enumerate(rates[player]):
                direction = rng.standard_normal(rate.shape)
                analytic = float(np.sum(grads[player][n + i].numpy() * direction))
                numeric = _fd_along(rate, direction, lambda: _meta_loss(
                    objective, models, task, inner, player))
                # The critic's output bias cancels in the WGAN losses: its rate has none.
                if not (loss == "wgan-gp" and player == "discriminator" and i == n - 1):
                    self.assertNotEqual(analytic, 0.0, f"{player} rate {i}")
                np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9,
                                           err_msg=f"{loss} {player} rate tensor {i}")

    def test_one_outer_step_moves_every_rate_of_both_players_by_its_gradient(self):
        models, objective = _tiny_gan("minimax")
        rates = _rates(models)
        inner = {p: inner_lib.meta_sgd(rates[p]) for p in models}
        lr = 0.5
        learner = MetaLearner(toys.variables(models), objective, inner,
                              outer=lambda: keras.optimizers.SGD(lr), algorithm="maml",
                              inner_steps=1)
        task = toys.gan_task(1)
        tasks = tf.nest.map_structure(lambda t: tf.expand_dims(t, 0), task)
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner,
                                     inner_steps=1)
        before = {p: [v.numpy().copy() for v in rates[p]] for p in PLAYERS}
        learner.train_step(tasks)
        for p in PLAYERS:
            n = len(models[p].trainable_variables)
            self.assertEqual([id(v) for v in learner.targets[p][n:]], [id(v) for v in rates[p]])
            for i, v in enumerate(rates[p]):
                np.testing.assert_allclose(v.numpy(), before[p][i] - lr * grads[p][n + i].numpy(),
                                           rtol=1e-12, atol=1e-15, err_msg=f"{p} rate {i}")
                self.assertFalse(np.array_equal(v.numpy(), before[p][i]), f"{p} rate {i}")
