"""apply() equals the model's own call, works under tf.function and nested tapes."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tfmeta import functional


def _mlp():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                             keras.layers.Dense(2)])


class FunctionalTest(parameterized.TestCase):

    def test_apply_with_own_params_equals_model_call(self):
        model = _mlp()
        x = tf.random.stateless_normal([5, 3], [0, 1])
        np.testing.assert_allclose(functional.apply(model, functional.params_of(model), x),
                                   model(x), rtol=1e-6)

    def test_apply_with_substituted_params_uses_them_and_leaves_variables(self):
        model = _mlp()
        before = [v.numpy() for v in model.trainable_variables]
        zeros = [tf.zeros_like(p) for p in functional.params_of(model)]
        out = functional.apply(model, zeros, tf.ones([2, 3]))
        np.testing.assert_array_equal(out.numpy(), np.zeros([2, 2]))
        for v, b in zip(model.trainable_variables, before):
            np.testing.assert_array_equal(v.numpy(), b)

    def test_second_derivative_through_nested_tapes_in_tf_function(self):
        model = _mlp()
        x = tf.random.stateless_normal([4, 3], [0, 2])

        @tf.function
        def hvp(direction):
            params = functional.params_of(model)
            with tf.GradientTape() as outer:
                outer.watch(params)
                with tf.GradientTape() as inner:
                    inner.watch(params)
                    loss = tf.reduce_sum(functional.apply(model, params, x) ** 2)
                grads = inner.gradient(loss, params)
                dot = tf.add_n([tf.reduce_sum(g * d) for g, d in zip(grads, direction)])
            return outer.gradient(dot, params)

        direction = [tf.ones_like(p) for p in functional.params_of(model)]
        result = hvp(direction)
        self.assertLen(result, 4)
        self.assertGreater(float(tf.linalg.global_norm(result)), 0.0)

    def test_batchnorm_statistics_are_not_updated_by_apply(self):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                                  keras.layers.BatchNormalization(), keras.layers.Dense(1)])
        stats = [v.numpy() for v in model.non_trainable_variables]
        x = tf.random.stateless_normal([8, 3], [1, 1]) * 5 + 3
        train_out = functional.apply(model, functional.params_of(model), x, training=True)
        infer_out = functional.apply(model, functional.params_of(model), x, training=False)
        for v, s in zip(model.non_trainable_variables, stats):
            np.testing.assert_array_equal(v.numpy(), s)
        # Training mode normalizes with batch statistics, inference with stored ones.
        self.assertGreater(float(tf.reduce_max(tf.abs(train_out - infer_out))), 1e-3)

    def test_unbuilt_model_and_wrong_shapes_raise(self):
        with self.assertRaisesRegex(ValueError, "is not built"):
            functional.params_of(keras.Sequential([keras.layers.Dense(1)]))
        model = _mlp()
        params = functional.params_of(model)
        with self.assertRaisesRegex(ValueError, r"params\[0\] has shape \(4, 3\)"):
            functional.apply(model, [tf.zeros([4, 3])] + params[1:], tf.ones([1, 3]))

    def test_num_params(self):
        self.assertEqual(functional.num_params(_mlp()), 3 * 4 + 4 + 4 * 2 + 2)
