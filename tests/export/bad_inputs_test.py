"""Every bad request is answered with InvalidArgumentError naming the rule, and serving goes on."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from export import api
from tests.export import fixtures

GOOD = dict(support_images=np.zeros([3, 28, 28, 1], np.float32), num_samples=np.int32(2),
            seed=np.int32(0))
NAN = np.float32("nan")

# (signature, the changed inputs, the expected message); bounds: max_samples 64, max_support 32.
BAD_REQUESTS = [
    ("adapt_and_generate", dict(support_images=np.zeros([3, 28, 28], np.float32)),
     r"support_images must have rank 4, shape \[n, 28, 28, 1\]; got shape\] \[3 28 28\]"),
    ("adapt_and_generate", dict(support_images=np.zeros([3, 28, 28, 1, 1], np.float32)),
     "support_images must have rank 4"),
    ("adapt_and_generate", dict(support_images=np.float32(0.5)),
     "support_images must have rank 4"),
    ("adapt_and_generate", dict(support_images=np.zeros([3, 32, 32, 1], np.float32)),
     r"support_images must have shape \[n, 28, 28, 1\]; got shape\] \[3 32 32"),
    ("adapt_and_generate", dict(support_images=np.zeros([3, 28, 28, 3], np.float32)),
     r"support_images must have shape \[n, 28, 28, 1\]"),
    ("adapt_and_generate", dict(support_images=np.zeros([0, 28, 28, 1], np.float32)),
     r"support_images must hold between 1 and 32 items .*got n =\] \[0\]"),
    ("adapt_and_generate", dict(support_images=np.zeros([33, 28, 28, 1], np.float32)),
     r"support_images must hold between 1 and 32 items .*got n =\] \[33\]"),
    ("adapt_and_generate", dict(support_images=np.full([3, 28, 28, 1], 1.5, np.float32)),
     r"support_images must be finite and in \[-1, 1\] \(to within 1e-05, then clipped\); "
     r"got\] \[min 1.5, max 1.5\]"),
    ("adapt", dict(support_images=np.full([3, 28, 28, 1], -1.01, np.float32)),
     r"support_images must be finite and in \[-1, 1\] .*got\] \[min -1.01, max -1.01\]"),
    ("adapt_and_generate", dict(support_images=np.full([3, 28, 28, 1], NAN, np.float32)),
     r"support_images must be finite and in \[-1, 1\]"),
    ("adapt_and_generate", dict(support_images=np.full([3, 28, 28, 1], -np.inf, np.float32)),
     r"support_images must be finite and in \[-1, 1\]"),
    ("adapt_and_generate", dict(support_images=np.zeros([3, 28, 28, 1], np.int32)),
     "float"),                                            # dtype: checked by the runtime
    ("adapt_and_generate", dict(num_samples=np.int32(0)),
     r"num_samples must be in \[1, 64\] \(bound fixed at export time\); got\] \[0\]"),
    ("adapt_and_generate", dict(num_samples=np.int32(-5)), r"num_samples must be in \[1, 64\]"),
    ("adapt_and_generate", dict(num_samples=np.int32(65)), r"got\] \[65\]"),
    ("adapt_and_generate", dict(num_samples=np.int32(2**31 - 1)), r"got\] \[2147483647\]"),
    ("adapt_and_generate", dict(num_samples=np.float32(4)), "int32"),
    ("adapt_and_generate", dict(seed=np.array([1, 2], np.int32)),
     r"seed must be an int32 scalar; got a tensor of (shape|this many values:)\] \[2\]"),
    ("adapt_and_generate", dict(seed=np.int64(3)), "int32"),
    ("adapt", dict(support_images=np.zeros([2, 28, 28, 2], np.float32)),
     r"support_images must have shape \[n, 28, 28, 1\]"),
    ("adapt", dict(seed=np.zeros([2, 1], np.int32)), "seed must be an int32 scalar"),
    ("serving_default", dict(z=np.zeros([16], np.float32)),
     r"z must have rank 2, shape \[n, 16\]; got shape\] \[16\]"),
    ("serving_default", dict(z=np.zeros([2, 17], np.float32)), r"z must have shape \[n, 16\]"),
    ("serving_default", dict(z=np.zeros([0, 16], np.float32)), "z must hold between 1 and 64"),
    ("serving_default", dict(z=np.zeros([65, 16], np.float32)), "z must hold between 1 and 64"),
    ("serving_default", dict(z=np.full([2, 16], np.inf, np.float32)), "z must be finite"),
    ("adapt_and_generate_from_z", dict(z=np.zeros([2, 15], np.float32)),
     r"z must have shape \[n, 16\]"),
]

# One value where a scalar is declared: refused by the model server (its session sees the
# runtime shape), taken as that value by a tf.saved_model.load-ed signature, whose runtime
# folds the declared scalar shape (tfmeta/savedmodel/validation.py).
ONE_VALUE_NON_SCALARS = [
    ("adapt_and_generate", dict(num_samples=np.array([4], np.int32)),
     r"num_samples must be an int32 scalar; got a tensor of shape\] \[1\]"),
    ("adapt", dict(seed=np.zeros([1, 1], np.int32)),
     r"seed must be an int32 scalar; got a tensor of shape\] \[1 1\]"),
]
SERVER_BAD_REQUESTS = BAD_REQUESTS + ONE_VALUE_NON_SCALARS


def request(signature: str, changes: dict) -> dict:
    names = {"serving_default": ["z"], "adapt": ["support_images", "seed"],
             "adapt_and_generate": ["support_images", "num_samples", "seed"],
             "adapt_and_generate_from_z": ["support_images", "z", "seed"]}[signature]
    good = dict(GOOD, z=np.zeros([2, 16], np.float32))
    return {k: changes.get(k, good[k]) for k in names}


class BadInputsTest(parameterized.TestCase):

    @parameterized.parameters(*BAD_REQUESTS)
    def test_bad_input_is_invalid_argument_and_serving_goes_on(self, signature, changes,
                                                               message):
        model = fixtures.loaded("maml")
        inputs = {k: tf.constant(v) for k, v in request(signature, changes).items()}
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, message):
            model.signatures[signature](**inputs)
        good = {k: tf.constant(v) for k, v in request(signature, {}).items()}
        out = model.signatures[signature](**good)
        self.assertTrue(all(np.all(np.isfinite(v.numpy())) for v in out.values()))

    def test_pixels_a_hair_outside_the_range_adapt_as_if_clipped(self):
        sig = fixtures.loaded("maml").signatures["adapt"]
        support = fixtures.support_images(4)
        support[0, :2, :2, 0] = -1.0000005                 # an antialiased resize's overshoot
        support[1, 0, 0, 0] = 1.0000005
        got, want = (sig(support_images=tf.constant(x), seed=tf.constant(2))
                     for x in (support, np.clip(support, -1, 1)))
        self.assertEqual(sorted(got), sorted(want))
        for name in want:
            np.testing.assert_array_equal(got[name].numpy(), want[name].numpy(), err_msg=name)
        metadata = api.read_metadata(fixtures.exported("maml"))
        self.assertEqual((metadata["image_range"], metadata["image_tolerance"]), ([-1, 1], 1e-5))

    def test_loaded_signature_takes_a_one_value_tensor_as_the_scalar(self):
        model = fixtures.loaded("maml")
        sig = model.signatures["adapt_and_generate"]
        support = tf.constant(fixtures.support_images(4))
        want = sig(support_images=support, num_samples=tf.constant(3),
                   seed=tf.constant(5))["images"].numpy()
        got = sig(support_images=support, num_samples=tf.constant([3]),
                  seed=tf.constant([[5]]))["images"].numpy()
        np.testing.assert_array_equal(got, want)
