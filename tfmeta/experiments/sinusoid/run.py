"""Running the sinusoid experiment: MAML vs. pre-training (Finn et al. 2017, section 5.1).

MAML meta-trains a 1-40-40-1 ReLU network so that a few SGD steps on K points of
an unseen sinusoid fit it; the baseline pre-trains the same network on points
pooled over all tasks (regressing to the mean curve) and is fine-tuned the same
way. Both are scored on held-out tasks by the query MSE after 0..k steps.

Example:
    >>> config = SinusoidConfig(steps=2000)
    >>> results = run(config, progress=lambda step, metrics: None)
    >>> results["maml"]["mse"]["1"]
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from tfmeta import functional
from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner, adaptation_trajectory
from tfmeta.data.sinusoid import X_RANGE, SinusoidTasks
from tfmeta.experiments.sinusoid.config import SinusoidConfig
from tfmeta.types import Task

__all__ = ["build_regressor", "mse_objective", "run"]


def build_regressor(hidden=(40, 40), seed: int = 0) -> keras.Model:
    """The MAML paper's regressor: 1 -> hidden ReLU layers -> 1."""
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((1,))]
    layers += [keras.layers.Dense(h, activation="relu") for h in hidden]
    layers.append(keras.layers.Dense(1))
    return keras.Sequential(layers, name="regressor")


def mse_objective(model: keras.Model):
    """One-player objective: MSE of ``model`` on an (x, y) batch."""
    def objective(params, batch, seed):
        del seed
        x, y = batch
        return {"model": tf.reduce_mean(tf.square(functional.apply(model, params["model"], x) - y))}
    return objective


def _interval(values: np.ndarray) -> dict:
    mean = float(np.mean(values))
    half = float(1.96 * np.std(values, ddof=1) / math.sqrt(len(values)))
    return {"mean": mean, "ci95": half}


class _Evaluator:
    """Fine-tunes a parameter set on held-out tasks and records the query MSE."""

    def __init__(self, model, config: SinusoidConfig):
        self.model = model
        self.config = config
        self.objective = mse_objective(model)
        self.inner = inner_lib.sgd(config.inner_lr)
        tasks = SinusoidTasks(config.shots, query=config.eval_query, seed=config.seed + 10_000)
        self.tasks = tasks.meta_batch(0, config.eval_tasks, config.eval_steps)
        self.curves = tasks.curves(0, config.eval_tasks)
        self._curve = tf.function(self._mse_curve)

    def _mse_curve(self, params, task: Task):
        trajectory = adaptation_trajectory(self.objective, {"model": params}, task.inner,
                                           self.inner, inner_steps=self.config.eval_steps,
                                           seed=task.seed)
        x, y = task.val[0], task.val[1]
        return tf.stack([self.objective(p, (x[0], y[0]), task.seed)["model"] for p in trajectory])

    def mse(self, params) -> np.ndarray:
        """``[tasks, eval_steps + 1]`` query MSE after 0..k steps."""
        out = []
        for i in range(self.config.eval_tasks):
            task = tf.nest.map_structure(lambda t: t[i], self.tasks)
            out.append(self._curve(params, task).numpy())
        return np.stack(out)

    def fits(self, params, task_index: int, x: np.ndarray, steps=(0, 1, 10)) -> dict:
        """Predictions on ``x`` after the given numbers of steps on one task."""
        task = tf.nest.map_structure(lambda t: t[task_index], self.tasks)
        trajectory = adaptation_trajectory(self.objective, {"model": params}, task.inner,
                                           self.inner, inner_steps=max(steps), seed=task.seed)
        xt = tf.constant(x.reshape(-1, 1), tf.float32)
        return {s: functional.apply(self.model, trajectory[s]["model"], xt).numpy().ravel()
                for s in steps}


def run(config: SinusoidConfig, progress: Callable[[str, int, dict], None] | None = None) -> dict:
    """Trains MAML and the pre-training baseline; returns results and figure data.

    Args:
      config: the experiment settings.
      progress: called as ``progress(phase, step, metrics)`` after every update,
        with phase ``"maml"`` or ``"pretrain"``.

    Returns:
      ``{"config", "maml": {"mse": {"0","1","10"}, "mse_ci95", "curve"},
      "pretrain": {...}, "figure": {...}}``; the figure data is not JSON-ready.
    """
    progress = progress or (lambda *_: None)
    train = SinusoidTasks(config.shots, seed=config.seed)
    results = {"config": dataclasses.asdict(config)}
    trained = {}

    # MAML.
    maml_model = build_regressor(config.hidden, config.seed)
    learner = MetaLearner({"model": maml_model.trainable_variables}, mse_objective(maml_model),
                          inner_lib.sgd(config.inner_lr),
                          outer=lambda: keras.optimizers.Adam(config.outer_lr),
                          algorithm="maml", inner_steps=config.train_inner_steps, step_weights="final")
    sample = tf.function(lambda step: train.meta_batch(step, config.meta_batch_size,
                                                       config.train_inner_steps))
    start = time.perf_counter()
    for step in range(config.steps):
        metrics = learner.train_step(sample(tf.constant(step)))
        progress("maml", step, {"loss": float(metrics["meta_loss/model"])})
    results["maml_train_sec"] = time.perf_counter() - start
    trained["maml"] = maml_model

    # Pre-training: one network on points pooled over tasks.
    pre_model = build_regressor(config.hidden, config.seed)
    opt = keras.optimizers.Adam(config.outer_lr)

    @tf.function
    def pre_step(step):
        x, y = train.pooled_batch(step, config.meta_batch_size)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(pre_model(x) - y))
        opt.apply_gradients(zip(tape.gradient(loss, pre_model.trainable_variables),
                                pre_model.trainable_variables))
        return loss

    start = time.perf_counter()
    for step in range(config.steps):
        loss = pre_step(tf.constant(step))
        progress("pretrain", step, {"loss": float(loss)})
    results["pretrain_train_sec"] = time.perf_counter() - start
    trained["pretrain"] = pre_model

    x = np.linspace(*X_RANGE, 200)
    figure = {"x": x, "task": 0}
    for name, model in trained.items():
        evaluator = _Evaluator(model, config)  # same held-out tasks for both: same seed
        curve = evaluator.curves
        figure["true"] = curve.amplitude[0].numpy() * np.sin(x - curve.phase[0].numpy())
        figure["support"] = (evaluator.tasks.inner[0][0, 0].numpy().ravel(),
                             evaluator.tasks.inner[1][0, 0].numpy().ravel())
        params = functional.params_of(model)
        mse = evaluator.mse(params)
        summary = {str(k): _interval(mse[:, k]) for k in range(config.eval_steps + 1)}
        results[name] = {
            "mse": {k: summary[k]["mean"] for k in ("0", "1", str(config.eval_steps))},
            "mse_ci95": {k: summary[k]["ci95"] for k in ("0", "1", str(config.eval_steps))},
            "curve": summary,
            "tasks": config.eval_tasks,
        }
        figure[name] = evaluator.fits(params, 0, x, steps=(0, 1, config.eval_steps))
    results["figure"] = figure
    return results
