"""A wall-clock budget for meta-training: runs compared at equal time, schedules that fit it.

A :class:`TimeBudget` of ``minutes`` ends a run when its training time (the
seconds of meta-updates, summed over every session of the run and kept in its
checkpoint; periodic work such as curve points excluded) reaches the limit, or
at its ``steps`` updates, whichever comes first. Its :meth:`TimeBudget.attach`
puts the run's decaying learning-rate schedules on the run's *progress*
instead of its update count: a schedule made to decay over ``steps`` updates
is read at ``steps * progress``, with ``progress = max(update / steps, seconds
/ limit)``, so a cosine or linear decay reaches its end exactly when the
budget does. Constant rates are unchanged.

Training time follows the machine, so a run under a budget resumes where it
left off but not bit for bit like a run without one, and two runs of the same
settings stop at different updates on different machines (that is the point:
equal time).

Example:
    >>> budget = TimeBudget(minutes=60, steps=100000)
    >>> budget.attach(learner)                 # its outer optimizers' schedules
    >>> def until():
    ...     if not joined: budget.join(checkpoint, latest)   # after the run's restore
    ...     return budget.spent(clock.seconds())
    >>> meta_train(learner, sampler, ..., until=until)
"""

from __future__ import annotations

from typing import Any, Iterable

import keras
import tensorflow as tf


class TimedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``base`` (made to decay over ``steps`` updates) read at ``steps * progress``."""

    def __init__(self, base: keras.optimizers.schedules.LearningRateSchedule, steps: int,
                 budget: "TimeBudget"):
        self.base, self.steps, self.budget = base, max(int(steps), 1), budget

    def __call__(self, step):
        steps = tf.cast(self.steps, tf.float32)
        by_time = tf.cast(self.budget.fraction, tf.float32) * steps
        return self.base(tf.minimum(tf.maximum(tf.cast(step, tf.float32), by_time), steps))

    def get_config(self):
        return {"base": keras.optimizers.schedules.serialize(self.base), "steps": self.steps,
                "minutes": self.budget.minutes}


class TimeBudget(tf.Module):
    """``minutes`` of training for a run of at most ``steps`` meta-updates.

    Attributes:
      seconds: training seconds of the run so far (a checkpointed variable).
      fraction: ``seconds / limit``, capped at 1 (what the schedules read).
    """

    def __init__(self, minutes: float, steps: int, name: str = "time_budget"):
        super().__init__(name=name)
        if not minutes > 0:
            raise ValueError(f"a time budget needs minutes > 0, got {minutes!r}")
        self.minutes, self.steps = float(minutes), int(steps)
        self.seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                   name="training_seconds")
        self.fraction = tf.Variable(0.0, dtype=tf.float32, trainable=False,
                                    name="time_fraction")
        self._base: float | None = None

    @property
    def limit(self) -> float:
        """The budget in seconds."""
        return 60.0 * self.minutes

    def attach(self, learner: Any) -> int:
        """Puts the decaying schedules of ``learner``'s outer optimizers on the run's progress.

        The optimizers are ``learner.outer`` (a ``{player: optimizer}`` dict,
        :class:`tfmeta.algorithms.MetaLearner`) or ``learner.optimizer``.
        Returns how many schedules were attached (constant rates are left alone).
        """
        attached = 0
        for optimizer in _optimizers(learner):
            # Keras 3 keeps a schedule in `_learning_rate`; the public property reads its value.
            schedule = getattr(optimizer, "_learning_rate", None)
            if isinstance(schedule, TimedSchedule):
                continue
            if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
                optimizer.learning_rate = TimedSchedule(schedule, self.steps, self)
                attached += 1
        return attached

    def join(self, checkpoint: tf.train.Checkpoint, latest: str | None) -> None:
        """Takes the seconds a run's ``latest`` checkpoint kept (if it kept any: a run begun
        without a budget starts it at 0) and joins ``checkpoint`` as ``time_budget``.

        Call it after the run's checkpoint was restored: joined before, a
        checkpoint written without a budget would not match it.
        """
        if latest:
            tf.train.Checkpoint(time_budget=self).read(latest).expect_partial()
        checkpoint.time_budget = self
        self._base = None

    def spent(self, session_seconds: float) -> bool:
        """Records the run's training time (the restored seconds plus ``session_seconds``, the
        training seconds of this session) and says whether the budget is spent."""
        if self._base is None:   # the first call of a session: what the checkpoint restored
            self._base = float(self.seconds.numpy())
        seconds = self._base + float(session_seconds)
        self.seconds.assign(seconds)
        self.fraction.assign(min(seconds / self.limit, 1.0))
        return seconds >= self.limit


def _optimizers(learner: Any) -> Iterable[keras.optimizers.Optimizer]:
    outer = getattr(learner, "outer", None)
    if isinstance(outer, dict):
        return list(outer.values())
    optimizer = getattr(learner, "optimizer", None)
    return [] if optimizer is None else [optimizer]
