"""``python -m trainers.critic``: trains the ResNet critic that scores few-shot generation.

Paper 000, section 4.2: a ResNet with four residual blocks, trained on every
class of the dataset (meta-train and meta-test classes together: 10 digits for
MNIST, 1623 characters for Omniglot), scores generated images by its
``-log P(class | x)`` and accuracy. Holds out ``--holdout_fraction`` of each
class, reports the held-out accuracy (the paper: 99.4% MNIST, 81.7% Omniglot)
and writes ``WORKDIR/critic.keras`` (Keras 3 format) and ``WORKDIR/critic.json``
(dataset, num_classes, class_ids, image_shape, heldout_accuracy, history,
config). Load it with ``tfmeta.eval.load_critic(WORKDIR)``; the training itself
is ``tfmeta.experiments.critic``.

Example:
    python -m trainers.critic --dataset=mnist --workdir=/tmp/critic_mnist
    python -m trainers.critic --dataset=omniglot --epochs=30 --workdir=/tmp/critic_omniglot
"""

from __future__ import annotations

import sys

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402

flags.DEFINE_string("workdir", None, "(required) Output directory for critic.keras and "
                    "critic.json.",
                    required=True)
flags.DEFINE_string("dataset", "mnist", "TFDS dataset whose classes (all of them, meta-train "
                    "and meta-test) the critic learns, e.g. mnist, fashion_mnist, omniglot.")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: $TFDS_DATA_DIR, else "
                    "../shared/tensorflow_datasets next to the project if present, else "
                    "TFDS's own default).")
flags.DEFINE_boolean("download", True, "Let TFDS download and prepare the dataset if it is "
                     "not in --data_dir (--nodownload to fail instead).")
flags.DEFINE_integer("epochs", 3, "Passes over the training images (3 give >= 99% held-out "
                     "accuracy on MNIST; Omniglot needs more, e.g. 30).", lower_bound=1)
flags.DEFINE_integer("batch_size", 128, "Images per Adam step.", lower_bound=1)
flags.DEFINE_float("learning_rate", 1e-3, "Initial Adam learning rate; it decays to 0 along a "
                   "cosine over the run.", lower_bound=0.0)
flags.DEFINE_integer("width", 32, "Channels of the stem and first residual block; the four "
                     "blocks have width x (1, 2, 4, 4) channels.", lower_bound=1)
flags.DEFINE_float("holdout_fraction", 0.1, "Fraction of each class's images held out to "
                   "measure the critic's accuracy (at least one image per class if > 0).",
                   lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_integer("seed", 0, "Seed of the initialization, held-out split and shuffling.")
flags.DEFINE_integer("image_size", None, "Resize images to this size (default: the dataset's, "
                     "28 for mnist and omniglot).", lower_bound=1)
flags.DEFINE_integer("max_train_images", None, "For quick runs and tests only: train on a "
                     "random subset of this many images (default: all).", lower_bound=1)
common.define_verbose_flag()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.apply_verbosity(FLAGS.verbose)
    common.import_tensorflow_quietly()
    from tfmeta.experiments.critic import CriticConfig, save_critic, train_critic

    try:
        config = CriticConfig(
            dataset=FLAGS.dataset, data_dir=FLAGS.data_dir or common.default_data_dir(),
            download=FLAGS.download, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
            learning_rate=FLAGS.learning_rate, width=FLAGS.width,
            holdout_fraction=FLAGS.holdout_fraction, seed=FLAGS.seed,
            image_size=FLAGS.image_size, max_train_images=FLAGS.max_train_images)
    except ValueError as e:
        sys.exit(f"error: {e}")
    common.refuse_file_workdir(FLAGS.workdir)
    bars = {}

    def progress(epoch, step, steps_per_epoch, metrics):
        if epoch not in bars:
            bars[epoch] = common.progress_bar(steps_per_epoch,
                                              f"epoch {epoch}/{config.epochs}")
        bars[epoch].update(step - bars[epoch].n)
        if "heldout_accuracy" in metrics:
            bars[epoch].set_postfix(heldout_acc=f"{metrics['heldout_accuracy']:.4f}")
            bars[epoch].close()
        elif step % 20 == 0:
            bars[epoch].set_postfix(loss=f"{metrics['loss']:.3f}", refresh=False)

    try:
        model, report = train_critic(config, progress)
        save_critic(model, report, FLAGS.workdir)
    except (ValueError, OSError, FloatingPointError) as e:
        sys.exit(f"error: {e}")
    accuracy = report["heldout_accuracy"]
    accuracy = "n/a" if accuracy is None else f"{accuracy:.4f}"
    print(f"{config.dataset} critic: held-out accuracy {accuracy} on "
          f"{report['num_heldout_images']} images of {report['num_classes']} classes "
          f"({report['train_seconds']:.0f} s); wrote {FLAGS.workdir}")
    print(f"wrote {FLAGS.workdir}")


if __name__ == "__main__":
    app.run(main)
