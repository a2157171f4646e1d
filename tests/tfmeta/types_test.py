"""The Learner protocol and the task helpers of tfmeta.types."""

import keras
import numpy as np
import tensorflow as tf

from tests import toys
from tfmeta import inner as inner_lib
from tfmeta.algorithms import MetaLearner
from tfmeta.types import Learner, Reused, Task, learning_rates, task_at


def test_meta_learner_and_a_learner_without_inner_loop_satisfy_the_learner_protocol():
    models, objective = toys.toy_regressor()
    meta = MetaLearner(toys.variables(models), objective, inner_lib.sgd(0.1),
                       outer=lambda: keras.optimizers.SGD(0.1), inner_steps=1)
    other, _ = toys.toy_regressor(seed=1)
    plain = toys.SupervisedLearner(other["model"], keras.optimizers.SGD(0.05))
    for learner in (meta, plain):
        assert isinstance(learner, Learner)
        assert learner.step.dtype == tf.int64
    assert not isinstance(object(), Learner)
    assert learning_rates(object()) == {}


def test_supervised_learner_step_counts_updates_and_lowers_the_loss():
    models, _ = toys.toy_regressor()
    learner = toys.SupervisedLearner(models["model"], keras.optimizers.Adam(0.05))
    task = toys.regression_task(1, batch=16)
    batch = tf.nest.map_structure(lambda t: t[0], task.inner)
    first = float(learner.train_step(batch)["loss"])
    for _ in range(20):
        last = float(learner.train_step(batch)["loss"])
    assert last < 0.5 * first
    assert int(learner.step.numpy()) == 21


def test_learning_rates_read_the_outer_schedule_at_the_current_iteration():
    models, objective = toys.toy_regressor()
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=4)
    learner = MetaLearner(toys.variables(models), objective, inner_lib.sgd(0.1),
                          outer=lambda: keras.optimizers.SGD(schedule), inner_steps=1)
    assert learning_rates(learner) == learner.learning_rates()
    np.testing.assert_allclose(learner.learning_rates()["model"], 0.1, rtol=1e-6)
    tasks = tf.nest.map_structure(lambda t: t[None], toys.regression_task(1))
    for _ in range(2):
        learner.train_step(tasks)
    rates = learner.learning_rates()
    assert sorted(rates) == ["model"] and isinstance(rates["model"], float)
    np.testing.assert_allclose(rates["model"], float(schedule(2)), rtol=1e-6)


def test_task_at_keeps_reused_batches_and_selects_the_task():
    x = tf.reshape(tf.range(12.0), [2, 3, 2])
    tasks = Task(inner=Reused(x), val=Reused((x, tf.constant([[0, 1, 2], [2, 1, 0]]))),
                 seed=tf.constant([[1, 2], [3, 4]]))
    one = task_at(tasks, tf.constant(1))
    assert isinstance(one.inner, Reused) and isinstance(one.val, Reused)
    np.testing.assert_array_equal(one.inner.batch.numpy(), x[1].numpy())
    np.testing.assert_array_equal(one.val.batch[1].numpy(), [2, 1, 0])
    np.testing.assert_array_equal(one.seed.numpy(), [3, 4])
