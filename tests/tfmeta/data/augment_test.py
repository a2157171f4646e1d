"""Augmentation of training images: crops are shifted windows with a black border, RFS's jitter
and flip do what torchvision's do, Koch et al.'s affine distortions move points as their map
says, every draw is a pure function of the key, and an augmented ImageBatchSampler or
EpisodeSampler replays a step exactly (eager and compiled)."""

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tfmeta.data import ClassDataset, EpisodeSampler, ImageBatchSampler
from tfmeta.data.augment import (AUGMENTS, affine_parameters, affine_transform, augment_images,
                                 crop_padding)

KEY = tf.constant([3, 4], tf.int64)


def ramp(batch=6, size=12, channels=1, seed=0):
    """Distinct images in (-1, 1): every pixel of every image its own value."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.9, 0.9, [batch, size, size, channels]).astype(np.float32)


def shift_of(original, cropped, pad):
    """The ``(dy, dx)`` in [-pad, pad] such that ``cropped`` is ``original`` shifted by it,
    the uncovered border at -1; None if there is none."""
    size = original.shape[0]
    padded = np.pad(original, [(pad, pad), (pad, pad), (0, 0)], constant_values=-1.0)
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            if np.array_equal(padded[dy:dy + size, dx:dx + size], cropped):
                return dy - pad, dx - pad
    return None


class AugmentTest(absltest.TestCase):

    def test_padding_is_rfs_eight_pixels_at_84_in_proportion_elsewhere(self):
        self.assertEqual([crop_padding(s, s) for s in (84, 32, 28, 5)], [8, 3, 3, 1])

    def test_none_keeps_the_images_and_crop_shifts_each_by_its_own_offset(self):
        images = ramp(batch=16)
        np.testing.assert_array_equal(augment_images(images, KEY, "none").numpy(), images)
        cropped = augment_images(images, KEY, "crop").numpy()
        shifts = [shift_of(x, y, crop_padding(12, 12)) for x, y in zip(images, cropped)]
        self.assertNotIn(None, shifts)
        self.assertGreater(len(set(shifts)), 4)          # offsets drawn per image
        self.assertTrue(any(s != (0, 0) for s in shifts))

    def test_rfs_flips_half_and_jitters_within_range_and_grey_stays_grey(self):
        images = ramp(batch=64, channels=3)
        out = augment_images(images, KEY, "rfs").numpy()
        self.assertEqual(out.shape, images.shape)
        self.assertTrue(np.all(out >= -1.0) and np.all(out <= 1.0))
        # A grey image stays grey (saturation and contrast mix with its grey level only).
        grey = np.repeat(ramp(batch=8, channels=1), 3, axis=-1)
        out_grey = augment_images(grey, KEY, "rfs").numpy()
        np.testing.assert_allclose(out_grey[..., 0], out_grey[..., 2], atol=1e-6)
        # A constant image of level 0.5: brightness b in 1 +- 0.4 gives 0.5 b; contrast c in
        # 1 +- 0.4 mixes it with the image's mean m, which the crop's black border (a shift of
        # at most 1 pixel keeps 9 of 16) puts in [9/16, 1] x 0.5 b: c 0.5 b + (1 - c) m.
        flat = np.full([200, 4, 4, 1], 0.0, np.float32)
        levels = (augment_images(flat, KEY, "rfs").numpy() + 1) / 2
        inside = levels[:, 1:-1, 1:-1]                      # away from the crop's border
        self.assertTrue(np.all(inside >= 0.5 * 0.6 * 0.6 - 1e-6))
        self.assertTrue(np.all(inside <= 0.5 * 1.4 * (1.4 - 0.4 * 9 / 16) + 1e-6))
        self.assertGreater(inside.max(), 0.7)                # factors above 1 are drawn
        self.assertLess(inside.min(), 0.3)                   # and below
        self.assertGreater(inside.std(), 0.05)

    def test_rfs_mirrors_about_half_the_images(self):
        # Left-right ramps: a mirror turns the correlation with the original negative, while
        # jitter (affine per image, up to clipping) and a shift of a pixel keep it positive.
        rng = np.random.default_rng(1)
        slope = rng.choice([-1, 1], 200) * rng.uniform(0.5, 0.8, 200)
        across = (np.arange(8) - 3.5) / 4
        images = np.broadcast_to(slope[:, None, None, None] * across[None, None, :, None],
                                 [200, 8, 8, 1]).astype(np.float32)
        out = augment_images(images, KEY, "rfs").numpy()[..., 0]
        mirrored = [np.corrcoef(o.ravel(), x[:, ::-1, 0].ravel())[0, 1] >
                    np.corrcoef(o.ravel(), x[..., 0].ravel())[0, 1]
                    for o, x in zip(out, images)]
        self.assertBetween(np.mean(mirrored), 0.35, 0.65)

    def test_draws_are_a_pure_function_of_the_key(self):
        images = ramp(channels=3)
        for kind in AUGMENTS:
            a = augment_images(images, KEY, kind).numpy()
            b = tf.function(augment_images, reduce_retracing=True)(
                tf.constant(images), KEY, kind).numpy()
            np.testing.assert_allclose(a, b, atol=1e-6, err_msg=kind)
        other = augment_images(images, tf.constant([3, 5], tf.int64), "rfs").numpy()
        self.assertFalse(np.allclose(other, augment_images(images, KEY, "rfs").numpy()))

    def test_unknown_kind_and_wrong_rank_are_refused_in_one_line(self):
        with self.assertRaisesRegex(ValueError, r"^augment must be one of none, crop, rfs, "
                                    r"affine, got 'flip'$"):
            augment_images(ramp(), KEY, "flip")
        with self.assertRaisesRegex(ValueError, r"^augment needs images \[B, H, W, C\]"):
            augment_images(ramp()[0], KEY, "crop")

    def test_affine_moves_a_point_where_its_forward_map_sends_it(self):
        """One bright pixel at (column 14, row 18) of a 29x29 image (centre 14, 14)."""
        image = -np.ones([1, 29, 29, 1], np.float32)
        image[0, 18, 14, 0] = 1.0
        identity = dict(angle=tf.zeros([1]), shear=tf.zeros([1, 2]), scale=tf.ones([1, 2]),
                        shift=tf.zeros([1, 2]))
        for change, (row, column) in (
                (dict(shift=tf.constant([[3.0, -2.0]])), (16, 17)),
                (dict(angle=tf.constant([np.pi / 2])), (14, 10)),      # (0, 4) -> (-4, 0)
                (dict(scale=tf.constant([[1.0, 1.5]])), (20, 14)),     # dy 4 -> 6
                (dict(shear=tf.constant([[0.5, 0.0]])), (18, 16))):    # dx + 0.5 dy
            out = affine_transform(tf.constant(image), **{**identity, **change}).numpy()[0, ..., 0]
            self.assertEqual(tuple(np.argwhere(out > 0.99)[0]), (row, column), change)
            if "scale" not in change:      # magnified, the pixel spreads to its neighbours
                self.assertEqual(int((out > -0.99).sum()), 1, change)
        np.testing.assert_allclose(affine_transform(tf.constant(image), **identity).numpy(),
                                   image, atol=1e-6)

    def test_affine_draws_each_distortion_half_the_time_within_koch_bounds(self):
        angle, shear, scale, shift = (t.numpy() for t in affine_parameters(KEY, 4000, 28))
        for drawn in (angle != 0, shear[:, 0] != 0, scale[:, 0] != 1, shift[:, 0] != 0):
            self.assertBetween(drawn.mean(), 0.46, 0.54)
        np.testing.assert_array_equal(shear[:, 0] != 0, shear[:, 1] != 0)
        self.assertLessEqual(np.abs(angle).max(), np.pi / 18 + 1e-6)
        self.assertLessEqual(np.abs(shear).max(), 0.3)
        self.assertLessEqual(np.abs(scale - 1).max(), 0.2 + 1e-6)
        self.assertLessEqual(np.abs(shift).max(), 2 * 28 / 105)
        self.assertGreater(np.abs(shift).max(), 0.5)

    def test_augmented_episodes_replay_a_step_keep_labels_and_differ_from_plain(self):
        images = np.stack([ramp(batch=5, size=10, seed=c) for c in range(3)])
        dataset = ClassDataset(tf.constant(images), tf.constant([5, 5, 5], tf.int32),
                               (0, 1, 2), ("a", "b", "c"))
        plain = EpisodeSampler(dataset, ways=2, shots=1, queries=2, seed=1, episodes=3)
        affine = EpisodeSampler(dataset, ways=2, shots=1, queries=2, seed=1, episodes=3,
                                augment="affine")
        raw, got = plain.meta_batch(4), affine.meta_batch(4)
        again = tf.function(affine.meta_batch)(tf.constant(4, tf.int64))
        for part in ("inner", "val"):
            raw_images, raw_labels = getattr(raw, part).batch
            images, labels = getattr(got, part).batch
            np.testing.assert_array_equal(labels.numpy(), raw_labels.numpy())
            np.testing.assert_allclose(getattr(again, part).batch[0].numpy(), images.numpy(),
                                       atol=1e-6)
            self.assertEqual(images.shape, raw_images.shape)
            self.assertGreater(np.abs(images.numpy() - raw_images.numpy()).max(), 0.1)
        with self.assertRaisesRegex(ValueError, r"^augment must be one of none, crop, rfs"):
            EpisodeSampler(dataset, ways=2, shots=1, queries=2, augment="mixup")

    def test_augmented_sampler_replays_a_step_and_keeps_the_labels(self):
        images = np.stack([ramp(batch=5, size=10, seed=c) for c in range(3)])
        dataset = ClassDataset(tf.constant(images), tf.constant([5, 5, 5], tf.int32),
                               (0, 1, 2), ("a", "b", "c"))
        plain = ImageBatchSampler(dataset, batch_size=6, seed=2)
        crop = ImageBatchSampler(dataset, batch_size=6, seed=2, augment="crop")
        for step in (0, 3):
            raw, labels = plain(step)
            got, got_labels = crop(step)
            again, _ = tf.function(crop)(tf.constant(step, tf.int64))
            np.testing.assert_array_equal(got.numpy(), again.numpy())
            np.testing.assert_array_equal(got_labels.numpy(), labels.numpy())
            shifts = [shift_of(x, y, 1) for x, y in zip(raw.numpy(), got.numpy())]
            self.assertNotIn(None, shifts)
        with self.assertRaisesRegex(ValueError, r"^augment must be one of none, crop, rfs"):
            ImageBatchSampler(dataset, batch_size=6, augment="mixup")


if __name__ == "__main__":
    absltest.main()
