"""``python -m export.saved_model``: a meta-learned GAN that adapts in the graph, for TF Serving.

Writes a new numbered version ``EXPORT_DIR/NAME/<version>/`` (the layout TF
Serving watches), atomically, with the signatures ``serving_default(z)``,
``adapt_and_generate(support_images, num_samples, seed)``,
``adapt_and_generate_from_z(support_images, z, seed)`` and
``adapt(support_images, seed)`` (see ``export/module.py`` and ``serving/README.md``).
Prints the version directory. A run at step 0 is refused unless ``--allow_untrained``.

Example:
    python -m export.saved_model --workdir=runs/mnist_maml --export_dir=exports --name=mnist_gan
"""

from __future__ import annotations

import sys

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402

flags.DEFINE_string("workdir", None, "(required) Run directory of trainers.maml_gan to "
                    "export.", required=True)
flags.DEFINE_string("export_dir", None, "(required) BASE: the folder of all served models "
                    "(what TF Serving mounts).", required=True)
flags.DEFINE_string("name", None, "(required) Model name; the export becomes the next "
                    "numbered version of BASE/NAME.", required=True)
flags.DEFINE_integer("adapt_steps", None, "Inner steps of the served adaptation, fixed in the "
                     "graph (default: the run's --inner_steps, what the initialization was "
                     "meta-trained for; at most 100).")
flags.DEFINE_integer("max_samples", 1024, "Largest num_samples (or z batch) a request may ask "
                     "for; larger requests get INVALID_ARGUMENT.")
flags.DEFINE_integer("max_support", 256, "Largest number of support images a request may "
                     "send; larger requests get INVALID_ARGUMENT.")
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
    from export.api import error_line, export_run
    try:
        path = export_run(FLAGS.workdir, FLAGS.export_dir, FLAGS.name,
                          adapt_steps=FLAGS.adapt_steps, max_samples=FLAGS.max_samples,
                          max_support=FLAGS.max_support, data_dir=FLAGS.data_dir,
                          allow_untrained=FLAGS.allow_untrained)
    except (ValueError, OSError, tf.errors.InvalidArgumentError) as e:
        sys.exit(f"error: {error_line(e)}")
    print(path)


if __name__ == "__main__":
    app.run(main)
