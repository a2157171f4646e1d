"""``python -m trainers.sinusoid``: MAML vs. pre-training on sinusoid regression.

Reproduces section 5.1 of the MAML paper (Finn et al. 2017): amplitude
U[0.1, 5.0], phase U[0, pi], x U[-5, 5], a 1-40-40-1 ReLU network, K shots,
inner SGD lr 0.01, meta-batch 25, Adam outer lr 1e-3. Writes
``WORKDIR/results.json`` (held-out MSE after 0, 1 and 10 steps with 95%
intervals, for MAML and pre-training) and ``WORKDIR/sinusoid.png``.

Example:
    python -m trainers.sinusoid --workdir=/tmp/sinusoid --steps=10000 --shots=10
"""

from __future__ import annotations

from trainers import common, shell

if __name__ == "__main__":
    shell.quiet_start()   # before TensorFlow is imported

with shell.native_logs_filtered():
    from tfmeta.experiments import sinusoid as experiment  # noqa: E402


def train(config, workdir: str, hooks, preset, strategy) -> dict:
    """MAML, then the pre-trained baseline, a bar each; writes the run's files."""
    bars = {}

    def progress(phase, step, metrics):
        if phase not in bars:
            for bar in bars.values():
                bar.close()
            bars[phase] = common.progress_bar(config.steps, phase)
        bars[phase].update(1)
        if step % 50 == 0:
            bars[phase].set_postfix(loss=f"{metrics['loss']:.3f}", refresh=False)

    try:
        results = experiment.run(config, progress)
    finally:
        for bar in bars.values():
            bar.close()
    return experiment.save(results, workdir)


def report(results: dict, config, workdir: str) -> str:
    lines = []
    for name in ("maml", "pretrain"):
        mse, ci = results[name]["mse"], results[name]["mse_ci95"]
        lines.append(f"{name:9s} held-out MSE  " + "  ".join(
            f"{k} steps: {mse[k]:.3f} ± {ci[k]:.3f}" for k in mse))
    return "\n".join(lines + [f"wrote {workdir}"])


TRAINER = shell.Trainer(
    name="sinusoid", doc=__doc__, config=experiment.SinusoidConfig, run=train,
    describe=lambda c: (f"sinusoid: MAML and pre-training, K={c.shots}, {c.steps} updates "
                        f"each, {c.meta_batch_size} tasks per meta-update"),
    report=report, workdir_help="results.json and sinusoid.png (a rerun trains anew)")
main = TRAINER.main

if __name__ == "__main__":
    TRAINER.start()
