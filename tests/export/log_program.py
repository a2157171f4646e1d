"""A TensorFlow-only program that loads an export and calls ``adapt_and_generate`` once.

Run as ``python log_program.py EXPORT_DIR``. tfmeta, Keras and the project are
made unimportable. TensorFlow is imported and its devices initialized first,
then ``--- load and call`` is written to stderr: whatever TensorFlow logs after
that line comes from loading and running the export.
"""

import sys

for _name in ("keras", "tf_keras", "tfmeta", "export", "serving", "tests"):
    sys.modules[_name] = None   # as if not installed

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(export_dir: str) -> None:
    tf.config.list_physical_devices()           # device set-up logs come before the marker
    sys.stderr.write("--- load and call\n")
    sys.stderr.flush()
    model = tf.saved_model.load(export_dir)
    support = np.random.default_rng(0).uniform(-1, 1, [5, 28, 28, 1]).astype(np.float32)
    images = model.signatures["adapt_and_generate"](
        support_images=tf.constant(support), num_samples=tf.constant(3),
        seed=tf.constant(1))["images"]
    print(list(images.shape))


if __name__ == "__main__":
    main(sys.argv[1])
