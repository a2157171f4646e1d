"""``python -m export.adapted``: the exported generator is the served adaptation, frozen."""

import os

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from export import api
from serving.images import read_support_folder
from tests.export import fixtures


class AdaptedExportTest(absltest.TestCase):

    def test_adapted_generator_equals_adapt_and_generate_on_the_same_images(self):
        path, folder = fixtures.adapted_export()
        self.assertEqual(os.path.basename(path), "1")
        self.assertEqual(os.path.basename(os.path.dirname(path)), "my_seven")
        adapted = tf.saved_model.load(path)
        self.assertEqual(list(adapted.signatures), ["serving_default"])
        z = tf.random.stateless_normal([5, 16], [4, 2])
        got = adapted.signatures["serving_default"](z=z)["images"].numpy()
        support = read_support_folder(folder, fixtures.IMAGE_SHAPE)
        want = fixtures.loaded("maml").signatures["adapt_and_generate_from_z"](
            support_images=tf.constant(support), z=z,
            seed=tf.constant(fixtures.ADAPTED_SEED))["images"].numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        prior = fixtures.loaded("maml").signatures["serving_default"](z=z)["images"].numpy()
        self.assertGreater(np.abs(got - prior).max(), 1e-4)
        meta = api.read_metadata(path)
        self.assertEqual((meta["kind"], meta["support_images"], meta["seed"]),
                         ("adapted_generator", 6, fixtures.ADAPTED_SEED))
        # Only the adapted weights are saved, by name; the meta-learned ones are not.
        self.assertEqual(sorted(adapted.generator_weights),
                         ["deconv1_bias", "deconv1_kernel", "deconv2_bias", "deconv2_kernel",
                          "fc_bias", "fc_kernel"])
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "z must have shape"):
            adapted.signatures["serving_default"](z=tf.zeros([2, 3]))

    def test_support_folder_without_images_names_it(self):
        empty = os.path.join(fixtures.TMP, "empty_support")
        os.makedirs(empty, exist_ok=True)
        with self.assertRaisesRegex(ValueError, "holds no images"):
            api.export_adapted(fixtures.tiny_run("maml"), os.path.join(fixtures.TMP, "x"), "y",
                               empty)
        self.assertFalse(os.path.exists(os.path.join(fixtures.TMP, "x", "y", "1")))


if __name__ == "__main__":
    absltest.main()
