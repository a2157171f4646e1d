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

from trainers import common, shell

if __name__ == "__main__":
    shell.quiet_start()   # before TensorFlow is imported

with shell.native_logs_filtered():
    from tfmeta.experiments import critic as experiment  # noqa: E402


def train(config, workdir: str, hooks, preset, strategy) -> dict:
    """Trains and saves the critic; a bar per epoch."""
    bars = {}

    def progress(epoch, step, steps_per_epoch, metrics):
        if epoch not in bars:
            bars[epoch] = common.progress_bar(steps_per_epoch, f"epoch {epoch}/{config.epochs}")
        bars[epoch].update(step - bars[epoch].n)
        if "heldout_accuracy" in metrics:
            bars[epoch].set_postfix(heldout_acc=f"{metrics['heldout_accuracy']:.4f}")
            bars[epoch].close()
        elif step % 20 == 0:
            bars[epoch].set_postfix(loss=f"{metrics['loss']:.3f}", refresh=False)

    try:
        model, report = experiment.train_critic(config, progress)
    finally:
        for bar in bars.values():
            bar.close()
    experiment.save_critic(model, report, workdir)
    return report


def report(report: dict, config, workdir: str) -> str:
    accuracy = report["heldout_accuracy"]
    accuracy = "n/a" if accuracy is None else f"{accuracy:.4f}"
    return (f"{config.dataset} critic: held-out accuracy {accuracy} on "
            f"{report['num_heldout_images']} images of {report['num_classes']} classes "
            f"({report['train_seconds']:.0f} s)\nwrote {workdir}")


TRAINER = shell.Trainer(
    name="critic", doc=__doc__, config=experiment.CriticConfig, run=train,
    describe=lambda c: (f"critic: {c.dataset}, {c.epochs} epochs of batch {c.batch_size}, "
                        f"width {c.width}"),
    report=report, workdir_help="critic.keras and critic.json (a rerun trains anew)")
main = TRAINER.main

if __name__ == "__main__":
    TRAINER.start()
