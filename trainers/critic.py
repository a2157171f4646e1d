r"""``python -m trainers.critic``: trains the ResNet critic that scores few-shot generation.

Paper 000, section 4.2: a ResNet with four residual blocks, trained on every
class of the dataset (meta-train and meta-test classes together: 10 digits for
MNIST, 1623 characters for Omniglot), scores generated images by its
``-log P(class | x)`` and accuracy. Holds out ``--holdout_fraction`` of each
class, reports the held-out accuracy (the paper: 99.4% MNIST, 81.7% Omniglot)
and writes ``WORKDIR/critic.keras`` (Keras 3 format) and ``WORKDIR/critic.json``
(dataset, num_classes, class_ids, image_shape, heldout_accuracy, history,
config). Load it with ``tfmeta.eval.load_critic(WORKDIR)``; the training itself
is ``tfmeta.experiments.critic``.

Regularization (all off by default, so the MNIST critic trains as before):
``--augment=affine`` randomly shifts, rotates and zooms every training image
in every epoch (never the held-out ones), ``--weight_decay`` trains with
AdamW, ``--label_smoothing`` smooths the targets (it caps the critic's
confidence and so raises every NLL it reports; keep it 0 for a critic whose
NLL is compared with paper 000's); all are recorded in ``critic.json``'s
``config``.

Example:
    python -m trainers.critic --dataset=mnist --workdir=/tmp/critic_mnist
    # Omniglot (30 epochs without regularization overfit: 76.31% held out)
    python -m trainers.critic --dataset=omniglot --epochs=40 --augment=affine \
        --weight_decay=0.05 --workdir=/tmp/critic_omniglot
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
flags.DEFINE_string("augment", "none", "Augmentation of the training images (never of the "
                    "held-out ones): 'none', or 'affine': a random shift (--augment_shift), "
                    "rotation (--augment_rotation) and zoom (--augment_zoom) of every image in "
                    "every epoch, seeded by --seed.")
flags.DEFINE_float("augment_shift", 2.0, "With --augment=affine: largest translation per axis, "
                   "in pixels (uniform in [-shift, shift]).")
flags.DEFINE_float("augment_rotation", 10.0, "With --augment=affine: largest rotation about the "
                   "image centre, in degrees, in [0, 180].")
flags.DEFINE_float("augment_zoom", 0.1, "With --augment=affine: largest relative change of "
                   "scale about the image centre, in [0, 1) (0.1: scale 0.9 to 1.1).")
flags.DEFINE_float("weight_decay", 0.0, "Decoupled weight decay (AdamW) of the kernels: each "
                   "step multiplies them by 1 - learning_rate * weight_decay; biases and "
                   "BatchNorm parameters are not decayed. 0: plain Adam.")
flags.DEFINE_float("label_smoothing", 0.0, "Mix the one-hot training targets with the uniform "
                   "distribution by this fraction, in [0, 1). 0: plain cross-entropy. It caps the "
                   "critic's confidence, so it raises the NLL the critic reports for every image.")
common.define_verbose_flag()
FLAGS = flags.FLAGS
_CONFIG_FLAGS = ("dataset", "download", "epochs", "batch_size", "learning_rate", "width",
                 "holdout_fraction", "seed", "image_size", "max_train_images", "augment",
                 "augment_shift", "augment_rotation", "augment_zoom", "weight_decay",
                 "label_smoothing")


def main(argv):
    del argv
    common.apply_verbosity(FLAGS.verbose)
    common.import_tensorflow_quietly()
    from tfmeta.experiments.critic import CriticConfig, save_critic, train_critic

    try:
        config = CriticConfig(
            data_dir=FLAGS.data_dir or common.default_data_dir(),
            **{name: FLAGS[name].value for name in _CONFIG_FLAGS})
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
          f"({report['train_seconds']:.0f} s)")
    print(f"wrote {FLAGS.workdir}")


if __name__ == "__main__":
    app.run(main)
