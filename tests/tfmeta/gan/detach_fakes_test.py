"""``detach_fakes``: the discriminator's loss takes the generated images as constants.

The losses, each player's own gradient and so every inner step stay what they were; the
discriminator's loss no longer depends on the generator's parameters, so a second-order
meta-gradient loses its cross-player terms. It is then the derivative of each player's meta-loss
with the other player's inner trajectory held where it was: checked for both players against
float64 central finite differences of exactly that (the partner's parameters at every call of the
objective recorded once, then replayed), and shown to differ from the coupled meta-gradient
(issue 34 item 6). With one player's inner gradients stopped (``first_order=(player,)``)
that player's meta-gradient is first-order MAML's and the other's stays the second-order one.
"""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import maml_losses, meta_gradients
from tfmeta.experiments import maml_gan

H = 1e-6
PLAYERS = ("discriminator", "generator")
SEED = tf.constant([3, 5], tf.int32)


def _params(models):
    return {p: [tf.convert_to_tensor(v) for v in m.trainable_variables]
            for p, m in models.items()}


def _recording(objective, record):
    """The objective, noting every player's parameters of each call under the call's seed."""
    def wrapped(params, batch, seed):
        key = tuple(int(s) for s in seed.numpy())
        assert key not in record, f"seed {key} used twice"
        record[key] = {p: [tf.identity(t) for t in params[p]] for p in params}
        return objective(params, batch, seed)
    return wrapped


def _replaying(objective, record, player, partner):
    """The objective whose ``player``'s loss sees ``partner``'s recorded parameters."""
    def wrapped(params, batch, seed):
        key = tuple(int(s) for s in seed.numpy())
        replayed = objective(dict(params, **{partner: record[key][partner]}), batch, seed)
        return dict(objective(params, batch, seed), **{player: replayed[player]})
    return wrapped


def _losses_and_gradients(objective, params, batch):
    """Each loss, its gradient for its own player, and the discriminator loss's for the
    generator's parameters (the cross term)."""
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(params)
        losses = objective(params, batch, SEED)
    own = {p: tape.gradient(losses[p], params[p]) for p in PLAYERS}
    cross = tape.gradient(losses["discriminator"], params["generator"])
    return losses, own, cross


class DetachFakesTest(parameterized.TestCase):

    @parameterized.parameters("non-saturating", "minimax", "wgan-gp")
    def test_same_losses_and_own_gradients_no_cross_gradient(self, loss):
        models, coupled = toys.real_gan(loss)
        _, detached = toys.real_gan(loss, detach_fakes=True)
        params, batch = _params(models), toys.gan_task(1).inner[0]
        losses_c, own_c, cross_c = _losses_and_gradients(coupled, params, batch)
        losses_d, own_d, cross_d = _losses_and_gradients(detached, params, batch)
        for p in PLAYERS:
            self.assertAlmostEqual(float(losses_c[p]), float(losses_d[p]), places=12)
            for a, b in zip(own_c[p], own_d[p]):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
        self.assertTrue(all(g is None for g in cross_d), "detached: no path to the generator")
        self.assertGreater(max(float(tf.reduce_max(tf.abs(g))) for g in cross_c), 1e-4)

    @parameterized.parameters("non-saturating", "wgan-gp")
    def test_second_order_meta_gradient_matches_finite_differences(self, loss):
        models, objective = toys.real_gan(loss, detach_fakes=True)
        _, coupled = toys.real_gan(loss)
        task = toys.gan_task(2)
        inner = inner_lib.rmsprop(0.05, epsilon=1e-3)
        grads, _, _ = meta_gradients(objective, toys.variables(models), task, inner,
                                     inner_steps=2)
        coupled_grads, _, _ = meta_gradients(coupled, toys.variables(models), task, inner,
                                             inner_steps=2)
        record = {}
        maml_losses(_recording(objective, record), _params(models), task, inner, inner_steps=2)
        self.assertLen(record, 4)   # two inner steps, two validation losses
        for player in PLAYERS:
            partner, = set(PLAYERS) - {player}
            frozen = _replaying(objective, record, player, partner)
            toys.assert_matches_finite_differences(
                models, grads, lambda: maml_losses(frozen, _params(models), task, inner,
                                                   inner_steps=2)[player],
                player, h=H, label=loss)
            # The cross-player terms are gone: the meta-gradient is another one.
            self.assertGreater(max(float(tf.reduce_max(tf.abs(a - b))) for a, b in
                                   zip(grads[player], coupled_grads[player])), 1e-6)

    @parameterized.parameters(("non-saturating", "discriminator"), ("wgan-gp", "discriminator"),
                              ("non-saturating", "generator"))
    def test_one_player_first_order(self, loss, stopped):
        # first_order=(stopped,): only that player's inner gradients are stopped. Its
        # meta-gradient is then first-order MAML's; the other's is its second-order one,
        # checked against float64 finite differences as above.
        models, objective = toys.real_gan(loss, detach_fakes=True)
        task = toys.gan_task(2)
        inner = inner_lib.rmsprop(0.05, epsilon=1e-3)
        mixed, second, first = (
            meta_gradients(objective, toys.variables(models), task, inner, inner_steps=2,
                           first_order=order)[0] for order in ((stopped,), False, True))
        other, = set(PLAYERS) - {stopped}
        for a, b in zip(mixed[stopped], first[stopped]):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-13)
        record = {}
        maml_losses(_recording(objective, record), _params(models), task, inner, inner_steps=2)
        frozen = _replaying(objective, record, other, stopped)
        toys.assert_matches_finite_differences(
            models, mixed, lambda: maml_losses(frozen, _params(models), task, inner,
                                               inner_steps=2)[other],
            other, h=H, label=f"{loss}, {stopped} first order")
        for player in PLAYERS:   # the orders differ for each player: the test can tell them
            self.assertGreater(max(float(tf.reduce_max(tf.abs(a - b))) for a, b in
                                   zip(second[player], first[player])), 1e-6)

    @parameterized.parameters(("maml", True), ("metasgd", True), ("fomaml", False),
                              ("reptile", False))
    def test_a_run_detaches_where_the_meta_gradient_is_second_order(self, algorithm, detached):
        config = maml_gan.MamlGanConfig(generator_width=4, discriminator_width=4, latent_dim=4,
                                        algorithm=algorithm, detach_fakes=True)
        setup = maml_gan.build(config, (8, 8, 1))
        models = {"generator": setup.generator, "discriminator": setup.discriminator}
        params = _params(models)
        batch = tf.random.stateless_uniform([2, 8, 8, 1], [1, 2], -1.0, 1.0)
        with tf.GradientTape() as tape:
            tape.watch(params["generator"])
            d_loss = setup.objective(params, batch, SEED)["discriminator"]
        cross = tape.gradient(d_loss, params["generator"])
        self.assertEqual(all(g is None for g in cross), detached)


if __name__ == "__main__":
    tf.test.main()
