"""``python -m export.adapted``: the exported generator is the served adaptation, frozen."""

import os

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from export import api
from serving.images import matched_support, read_support_folder
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
        # MNIST is bright ink on a dark background, and so are these six images of it
        self.assertEqual((meta["background"], meta["support_polarity"]),
                         ("dark", "dark background, as the run's data"))
        # Only the adapted weights are saved, by name; the meta-learned ones are not.
        self.assertEqual(sorted(adapted.generator_weights),
                         ["deconv1_bias", "deconv1_kernel", "deconv2_bias", "deconv2_kernel",
                          "fc_bias", "fc_kernel"])
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "z must have shape"):
            adapted.signatures["serving_default"](z=tf.zeros([2, 3]))

    def test_dark_ink_on_white_paper_is_inverted_and_adapts_exactly_as_the_bright_images(self):
        # The images a user scans: the same digits, dark on white.
        path, folder = fixtures.adapted_export()
        bright = read_support_folder(folder, fixtures.IMAGE_SHAPE)
        scans = fixtures.write_png_folder(-bright, os.path.join(fixtures.TMP, "scanned_seven"))
        support, note = matched_support(read_support_folder(scans, fixtures.IMAGE_SHAPE),
                                        api.read_metadata(path)["background"])
        self.assertEqual(note, "light background: inverted to the run's dark one")
        np.testing.assert_array_equal(support, bright)
        # So the scans, through export.adapted at its defaults, give the very same generator
        # (an adaptation is sensitive to a last-bit difference in its images).
        scanned = api.export_adapted(fixtures.tiny_run("maml"),
                                     os.path.join(fixtures.TMP, "scanned_exports"), "seven",
                                     scans, seed=fixtures.ADAPTED_SEED)
        self.assertEqual(api.read_metadata(scanned)["support_polarity"],
                         "light background: inverted to the run's dark one")
        want, got = (tf.saved_model.load(p).generator_weights for p in (path, scanned))
        self.assertEqual(sorted(got), sorted(want))
        for name in want:
            np.testing.assert_array_equal(got[name].numpy(), want[name].numpy(), err_msg=name)
        # A border neither dark nor light: the CLI says so in one line and writes nothing.
        grey = fixtures.write_png_folder(np.zeros([2, 28, 28, 1], np.float32),
                                         os.path.join(fixtures.TMP, "grey_support"))
        base = os.path.join(fixtures.TMP, "grey_exports")
        code, out = fixtures.run_cli("export.adapted", f"--workdir={fixtures.tiny_run('maml')}",
                                     f"--export_dir={base}", "--name=grey", f"--support={grey}")
        self.assertEqual(out, "")
        self.assertRegex(code, r"^error: cannot tell the support images' background: the median "
                         r"of their border is 0\.00 on \[-1, 1\], neither dark nor light \(the "
                         r"run's data has a dark background\); say whether to invert them "
                         r"\(--invert or --noinvert\)$")
        self.assertFalse(os.path.exists(os.path.join(base, "grey")))

    def test_support_folder_without_images_names_it(self):
        empty = os.path.join(fixtures.TMP, "empty_support")
        os.makedirs(empty, exist_ok=True)
        with self.assertRaisesRegex(ValueError, "holds no images"):
            api.export_adapted(fixtures.tiny_run("maml"), os.path.join(fixtures.TMP, "x"), "y",
                               empty)
        self.assertFalse(os.path.exists(os.path.join(fixtures.TMP, "x", "y", "1")))


if __name__ == "__main__":
    absltest.main()
