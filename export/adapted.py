r"""``python -m export.adapted``: adapt a run on your images, export the adapted generator.

Reads a folder of images of one new class (``--support``), adapts the run's
meta-learned GAN on them exactly as the ``adapt`` signature of
``export.saved_model`` would (same steps, seed rule and step batches), and
writes a plain generator SavedModel (``serving_default(z) -> images``) as the
next version of ``BASE/NAME``. Support images whose background is the opposite of
the run's data (dark ink scanned on white paper, for an MNIST run) are inverted,
and the closing line says so: images read, polarity, steps, the version written. A run at step 0 is refused unless
``--allow_untrained``. Several such models can share one TF Serving instance:
``python -m serving.models_config --base=BASE`` lists them.

Example:
    python -m export.adapted --workdir=runs/mnist_maml --export_dir=exports \
        --name=my_digit --support=my_digit_images/
"""

from __future__ import annotations

import sys

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402

flags.DEFINE_string("workdir", None, "(required) Run directory of trainers.maml_gan.",
                    required=True)
flags.DEFINE_string("export_dir", None, "(required) BASE: the folder of all served models "
                    "(what TF Serving mounts).", required=True)
flags.DEFINE_string("name", None, "(required) Model name; the export becomes the next "
                    "numbered version of BASE/NAME.", required=True)
flags.DEFINE_string("support", None, "(required) Folder of images (png, jpg, bmp, gif) of the "
                    "new class; they are resized to the run's image size.", required=True)
flags.DEFINE_bool("invert", None, "Negate the images after scaling to [-1, 1] (--invert), or "
                  "keep them (--noinvert). Default: negate them where their background (the "
                  "median of their border) is the opposite of the run's training data's, e.g. "
                  "dark ink scanned on white paper for an MNIST run; a border neither dark nor "
                  "light is refused, asking for one of the two.")
flags.DEFINE_integer("seed", 0, "Seed of the adaptation (step batches and inner-step draws).")
flags.DEFINE_integer("adapt_steps", None, "Inner steps of the adaptation (default: the run's "
                     "--serve_steps if set, as the CPU recipe's 80, else its --inner_steps).")
flags.DEFINE_integer("max_samples", 1024, "Largest z batch a request to the exported "
                     "generator may send.")
flags.DEFINE_string("data_dir", None, "TFDS data directory of the run's dataset (read for the "
                    "image shape; default: the run's own --data_dir).")
flags.DEFINE_bool("allow_untrained", False, "Export a run at step 0 (random weights) too.")
common.define_verbose_flag()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.apply_verbosity(FLAGS.verbose)
    common.import_tensorflow_quietly()
    import tensorflow as tf
    from export.api import error_line, export_adapted
    try:
        path = export_adapted(FLAGS.workdir, FLAGS.export_dir, FLAGS.name, FLAGS.support,
                              seed=FLAGS.seed, adapt_steps=FLAGS.adapt_steps,
                              max_samples=FLAGS.max_samples, invert=FLAGS.invert,
                              data_dir=FLAGS.data_dir, allow_untrained=FLAGS.allow_untrained)
    except (ValueError, OSError, tf.errors.InvalidArgumentError) as e:
        sys.exit(f"error: {error_line(e)}")
    print(summary(path))


def summary(path: str) -> str:
    """The closing line: images read, their polarity, the adaptation steps, where it went."""
    from export.api import read_metadata
    meta = read_metadata(path)
    return (f"{meta['support_images']} support images from {meta['support_source']} "
            f"({meta['support_polarity']}), {meta['adapt_steps']} adaptation step"
            f"{'' if meta['adapt_steps'] == 1 else 's'} -> {path}")


if __name__ == "__main__":
    app.run(main)
