"""ImageBatchSampler: epochs of every image exactly once, a batch a pure function of (seed,
step), eager and compiled alike, labelled by class index."""

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tfmeta.data import ClassDataset, ImageBatchSampler


def numbered(counts):
    """A dataset whose image ``i`` of class ``c`` is filled with ``10 c + i``."""
    images = np.zeros([len(counts), max(counts), 2, 2, 1], np.float32)
    for c, count in enumerate(counts):
        for i in range(count):
            images[c, i] = 10 * c + i
    return ClassDataset(tf.constant(images), tf.constant(counts, tf.int32),
                        tuple(range(len(counts))), tuple(f"c{c}" for c in range(len(counts))))


class ImageBatchSamplerTest(absltest.TestCase):

    def test_every_epoch_deals_every_image_once_with_its_class_label(self):
        dataset = numbered([5, 2, 4])    # 11 images: batches of 4 straddle epochs
        sampler = ImageBatchSampler(dataset, batch_size=4, seed=1)
        compiled = tf.function(sampler)
        stream = []
        for step in range(11):
            images, labels = sampler(step)
            again, _ = compiled(tf.constant(step, tf.int64))
            np.testing.assert_array_equal(images.numpy(), again.numpy())
            values = images.numpy()[:, 0, 0, 0].astype(int)
            np.testing.assert_array_equal(values // 10, labels.numpy())
            stream += list(values)
        everything = sorted(10 * c + i for c, n in enumerate([5, 2, 4]) for i in range(n))
        for epoch in range(4):
            self.assertEqual(sorted(stream[11 * epoch:11 * epoch + 11]), everything)
        self.assertNotEqual(stream[:11], stream[11:22])   # each epoch its own order

    def test_the_seed_changes_the_order_and_too_large_a_batch_is_refused(self):
        dataset = numbered([5, 2, 4])
        a = ImageBatchSampler(dataset, batch_size=4, seed=1)(0)[0].numpy()
        b = ImageBatchSampler(dataset, batch_size=4, seed=2)(0)[0].numpy()
        self.assertFalse(np.array_equal(a, b))
        with self.assertRaisesRegex(ValueError, r"^batch_size=12 is more than the 11 images"):
            ImageBatchSampler(dataset, batch_size=12)


if __name__ == "__main__":
    absltest.main()
