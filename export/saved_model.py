"""``python -m export.saved_model``: a meta-learned run that adapts in the graph, for TF Serving.

Writes a new numbered version ``EXPORT_DIR/NAME/<version>/`` (the layout TF
Serving watches), atomically. For a MAML-GAN run the signatures are
``serving_default(z)``, ``adapt_and_generate(support_images, num_samples, seed)``,
``adapt_and_generate_from_z(support_images, z, seed)`` and
``adapt(support_images, seed)`` (see ``export/module.py`` and ``serving/README.md``);
for a few-shot classification run (``trainers.few_shot``)
``adapt_and_classify(support_images, support_labels, query_images, seed)`` (also
``serving_default``), ``adapt(support_images, support_labels, seed)`` and
``classify(query_images, <weights>)`` (see ``tfmeta/savedmodel/classifier.py``); a metric
learner's run (``--algorithm=protonet|matching|relation|siamese``) gets the same
signatures, ``adapt`` returning its support state (e.g. ``prototypes``) instead of weights,
and answers N-way requests for any N up to ``--max_ways``.
Prints the version directory. A run at step 0 is refused unless ``--allow_untrained``.

Example:
    python -m export.saved_model --workdir=runs/mnist_maml --export_dir=exports --name=mnist_gan
    python -m export.saved_model --workdir=runs/omniglot_5w1s --export_dir=exports \
        --name=omniglot_5w1s
"""

from __future__ import annotations

import sys

from trainers import common

if __name__ == "__main__":
    common.quiet_start()   # before TensorFlow is imported

from absl import app, flags  # noqa: E402

flags.DEFINE_string("workdir", None, "(required) Run directory of trainers.maml_gan or "
                    "trainers.few_shot to export.", required=True)
flags.DEFINE_string("export_dir", None, "(required) BASE: the folder of all served models "
                    "(what TF Serving mounts).", required=True)
flags.DEFINE_string("name", None, "(required) Model name; the export becomes the next "
                    "numbered version of BASE/NAME.", required=True)
flags.DEFINE_integer("adapt_steps", None, "Inner steps of the served adaptation, fixed in the "
                     "graph, at most 100 (default: a MAML-GAN run's --serve_steps if set, as the "
                     "CPU recipe's 80, else its --inner_steps; a few-shot run's "
                     "--eval_inner_steps). Not for metric learners' runs, which take no steps.")
flags.DEFINE_integer("max_samples", 1024, "MAML-GAN runs: largest num_samples (or z batch) a "
                     "request may ask for; larger requests get INVALID_ARGUMENT.")
flags.DEFINE_integer("max_support", 256, "Largest number of support images a request may "
                     "send; larger requests get INVALID_ARGUMENT.")
flags.DEFINE_integer("max_query", 1024, "Few-shot runs: largest number of query images a "
                     "request may send; larger requests get INVALID_ARGUMENT.")
flags.DEFINE_integer("max_ways", None, "Metric learners' runs: largest number of classes N of a "
                     "request (N = the largest support label + 1; default: --max_support). "
                     "Not for gradient-based runs, whose head fixes N to the run's --ways.")
flags.DEFINE_string("data_dir", None, "TFDS data directory of the run's dataset (read for the "
                    "image shape; default: the run's own --data_dir).")
flags.DEFINE_bool("allow_untrained", False, "Export a run at step 0 (random weights) too.")
common.define_head_flags("serve")
common.define_verbose_flag()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.apply_verbosity(FLAGS.verbose)
    common.import_tensorflow_quietly()
    import tensorflow as tf
    from export import api, classifier_api
    common_args = dict(adapt_steps=FLAGS.adapt_steps, max_support=FLAGS.max_support,
                       data_dir=FLAGS.data_dir, allow_untrained=FLAGS.allow_untrained)
    head = common.head_values(FLAGS)
    try:
        if api.run_kind(FLAGS.workdir) == "few_shot":
            path = classifier_api.export_classifier(FLAGS.workdir, FLAGS.export_dir,
                                                    FLAGS.name, max_query=FLAGS.max_query,
                                                    max_ways=FLAGS.max_ways, **head,
                                                    **common_args)
        elif any(v is not None for v in head.values()):
            given = [f"--{k}" for k, v in head.items() if v is not None]
            sys.exit(f"error: {', '.join(given)} {'apply' if given[1:] else 'applies'} to "
                     f"few-shot baseline runs; "
                     f"{FLAGS.workdir} is a MAML-GAN run")
        else:
            path = api.export_run(FLAGS.workdir, FLAGS.export_dir, FLAGS.name,
                                  max_samples=FLAGS.max_samples, **common_args)
    except (ValueError, OSError, tf.errors.InvalidArgumentError) as e:
        sys.exit(f"error: {api.error_line(e)}")
    print(_summary(api.read_metadata(path)))
    print(path)


def _summary(meta: dict) -> str:
    """What the export serves, in one line (the version directory follows it)."""
    steps = meta.get("adapt_steps") or 0
    how = (f"adapts for {steps} step{'' if steps == 1 else 's'} in the graph"
           if steps else "adapts by embedding the support set")
    if rates := meta.get("inner_lrs"):   # a MAML-GAN run's, as it adapts (adapt_lr_scale)
        how += (f" at inner rates {rates['generator']:g} (generator), "
                f"{rates['discriminator']:g} (discriminator)")
    if steps and FLAGS.adapt_steps is None:
        how += " (the run's default)"
    return (f"exported the {meta.get('algorithm')} run {FLAGS.workdir} at step "
            f"{meta.get('step')}: {how}, on up to {meta.get('max_support')} support images")


if __name__ == "__main__":
    app.run(main)
