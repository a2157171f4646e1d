"""The wall-clock budget: schedules read at the run's progress, seconds kept across restarts,
and ``meta_train``'s ``until`` ending a run as complete."""

import os
import tempfile

import keras
import numpy as np
from absl.testing import absltest

from tests.tfmeta.training_test import _supervised_batches, _Supervised
from tfmeta.budget import TimeBudget, TimedSchedule
from tfmeta.training import LambdaCallback, Periodic, meta_train


def cosine(steps=100):
    return keras.optimizers.schedules.CosineDecay(1.0, decay_steps=steps)


class TimedScheduleTest(absltest.TestCase):

    def test_the_schedule_is_read_at_the_larger_of_update_and_time_progress(self):
        budget = TimeBudget(minutes=1.0, steps=100)
        schedule = TimedSchedule(cosine(), 100, budget)
        base = cosine()
        self.assertAlmostEqual(float(schedule(10)), float(base(10)), places=6)   # no time yet
        budget.spent(30.0)                                     # half the minute: progress 0.5
        self.assertAlmostEqual(float(budget.fraction.numpy()), 0.5)
        self.assertAlmostEqual(float(schedule(10)), float(base(50)), places=6)
        self.assertAlmostEqual(float(schedule(80)), float(base(80)), places=6)   # updates lead
        self.assertFalse(budget.spent(59.0))
        self.assertTrue(budget.spent(61.0))
        self.assertEqual(float(budget.fraction.numpy()), 1.0)                    # capped
        self.assertAlmostEqual(float(schedule(10)), 0.0, places=6)               # the end

    def test_attach_wraps_decaying_schedules_once_and_leaves_constant_rates(self):
        class Learner:   # MetaLearner's shape: one outer optimizer per player
            outer = {"a": keras.optimizers.Adam(cosine()), "b": keras.optimizers.Adam(1e-3)}

        budget = TimeBudget(minutes=1.0, steps=100)
        self.assertEqual(budget.attach(Learner), 1)
        self.assertEqual(budget.attach(Learner), 0)                              # not twice
        optimizer = Learner.outer["a"]
        self.assertAlmostEqual(float(optimizer.learning_rate), 1.0, places=6)    # iteration 0
        budget.spent(45.0)
        self.assertAlmostEqual(float(optimizer.learning_rate), float(cosine()(75)), places=6)
        self.assertAlmostEqual(float(Learner.outer["b"].learning_rate), 1e-3, places=9)
        single = _Supervised()                                                   # `optimizer`
        single.optimizer.learning_rate = cosine()
        self.assertEqual(budget.attach(single), 1)

    def test_a_budget_needs_minutes(self):
        with self.assertRaisesRegex(ValueError, "needs minutes > 0, got 0"):
            TimeBudget(minutes=0, steps=10)


class BudgetCheckpointTest(absltest.TestCase):

    def test_seconds_survive_a_restart_and_a_run_begun_without_a_budget_starts_at_zero(self):
        with tempfile.TemporaryDirectory() as tmp:
            learner = _Supervised()
            plain = learner.checkpoint().save(os.path.join(tmp, "plain"))   # no budget in it
            first = TimeBudget(minutes=1.0, steps=10)
            checkpoint = learner.checkpoint()
            first.join(checkpoint, plain)
            self.assertFalse(first.spent(20.0))
            self.assertEqual(float(first.seconds.numpy()), 20.0)
            timed = checkpoint.save(os.path.join(tmp, "timed"))
            second = TimeBudget(minutes=1.0, steps=10)
            again = _Supervised().checkpoint()
            again.restore(timed).assert_existing_objects_matched()   # the run's own restore
            second.join(again, timed)
            self.assertFalse(second.spent(30.0))
            self.assertEqual(float(second.seconds.numpy()), 50.0)    # 20 before, 30 now
            self.assertTrue(second.spent(41.0))


class UntilTest(absltest.TestCase):

    def test_until_ends_the_run_as_complete_with_its_final_checkpoint_and_periodic_work(self):
        with tempfile.TemporaryDirectory() as workdir:
            learner = _Supervised()
            done, seen = [], []
            result = meta_train(learner, _supervised_batches, workdir=workdir, steps=100,
                                checkpoint=learner.checkpoint(), checkpoint_every=50,
                                callbacks=[Periodic(50, done.append),
                                           LambdaCallback(lambda s, m: seen.append(s))],
                                until=lambda: len(seen) >= 4)
            self.assertEqual((result.step, result.interrupted), (5, False))
            self.assertEqual(done, [5])                     # the final point, at the end
            self.assertTrue(result.checkpoint.endswith("ckpt-5"), result.checkpoint)
            weights = [v.numpy().copy() for v in learner.model.trainable_variables]
            again = _Supervised()
            rerun = meta_train(again, _supervised_batches, workdir=workdir, steps=100,
                               checkpoint=again.checkpoint(), until=lambda: True)
            self.assertEqual((rerun.step, rerun.interrupted, dict(rerun)), (5, False, {}))
            for x, y in zip(weights, again.model.trainable_variables):
                np.testing.assert_array_equal(x, y.numpy())


if __name__ == "__main__":
    absltest.main()
