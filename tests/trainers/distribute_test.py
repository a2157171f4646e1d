"""``--distribute`` end to end: trainers.maml_gan on 2 logical devices and on 2 local workers.

The same tiny run (meta-batch 2, constant outer learning rate so that a run can
be extended) is made on one device, and compared bit for bit (to 1e-5) with: the
run resumed on two devices after starting on one, then back on one device; two
worker processes of a MultiWorkerMirroredStrategy on localhost ports (TF_CONFIG);
and that job killed mid-run and restarted, which must resume from its last
checkpoint with no meta-update lost or repeated, then stopped by Ctrl-C on one worker.

The one-device runs are made in this process (``TRAINER.main``: they are references, not
what is tested); every run on two logical devices or two workers is its own process
(logical devices cannot be configured once TensorFlow has started, and workers are
processes).
"""

import contextlib
import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
import tensorflow as tf
from absl import logging as absl_logging

from bench.distributed import free_ports
from tests.shared import ROOT, tfds_dir
from tests.trainers.few_shot_test import write_folder_dataset
from trainers import few_shot, maml_gan

TINY = ["--dataset=mnist", "--nodownload", "--preset=cpu", "--algorithm=fomaml",
        "--generator_width=4", "--discriminator_width=4", "--latent_dim=8", "--inner_steps=1",
        "--meta_batch_size=2", "--batch_size=4", "--outer_lr_schedule=constant",
        "--checkpoint_every=2", "--keep_checkpoints=100", "--sample_every=1000",
        "--summary_every=1000", "--grid_samples=1", "--grid_steps=1"]
RESUMING = re.compile(r"resuming at step (\d+) of")
INTERRUPTED = re.compile(r"interrupted at step (\d+); saved")
TIMEOUT = 300


def _trainer(workdir: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "trainers.maml_gan", f"--workdir={workdir}",
            f"--data_dir={tfds_dir()}", *TINY, *args]


def _run(workdir: str, *args: str) -> str:
    proc = subprocess.run(_trainer(workdir, *args), cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def _run_here(trainer, *argv: str) -> tuple[int, str]:
    """``(status, stderr)`` of ``trainer.TRAINER.main(argv)`` in this process (its log settings
    restored after it)."""
    err = io.StringIO()
    verbosity, tf_level = absl_logging.get_verbosity(), logging.getLogger("tensorflow").level
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            status = trainer.TRAINER.main(list(argv))
    finally:
        absl_logging.set_verbosity(verbosity)
        logging.getLogger("tensorflow").setLevel(tf_level)
    return status, err.getvalue()


def _one_device(workdir: str, *args: str) -> str:
    """The maml_gan run on one device, in this process; its stderr."""
    status, err = _run_here(maml_gan, *_trainer(workdir, *args)[3:])
    assert status == 0, err[-3000:]
    return err


def _values(workdir: str, step: int) -> dict:
    path = os.path.join(workdir, "checkpoints", f"ckpt-{step}")
    return {name: tf.train.load_checkpoint(path).get_tensor(name)
            for name, _ in tf.train.list_variables(path)
            if not name.startswith(("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"))}


class Workers:
    """Two worker processes of one multi-worker job on localhost; killed when done."""

    def __init__(self, workdir: str, *args: str):
        ports = free_ports(2)
        self.logs, self.procs = [], []
        for index in range(2):
            env = dict(os.environ, TF_CONFIG=json.dumps({
                "cluster": {"worker": [f"localhost:{p}" for p in ports]},
                "task": {"type": "worker", "index": index}}))
            log = tempfile.TemporaryFile(mode="w+")
            self.logs.append(log)
            self.procs.append(subprocess.Popen(
                _trainer(workdir, "--distribute=multi_worker", *args), cwd=ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def wait(self) -> list[int]:
        deadline = time.monotonic() + TIMEOUT
        for p in self.procs:
            p.wait(timeout=max(deadline - time.monotonic(), 1))
        return [p.returncode for p in self.procs]

    def output(self, index: int) -> str:
        self.logs[index].seek(0)
        return self.logs[index].read()

    def kill(self, index: int | None = None) -> None:
        for i, p in enumerate(self.procs):
            if (index is None or i == index) and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        for log in self.logs:
            log.close()
        return False


class DistributedTrainerTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.reference = os.path.join(cls._tmp.name, "one_device")
        _one_device(cls.reference, "--steps=2")
        cls.halfway = os.path.join(cls._tmp.name, "halfway")
        shutil.copytree(cls.reference, cls.halfway)        # the run at step 2, one device
        _one_device(cls.reference, "--steps=8")            # ... extended to 8 on one device

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def assertSameWeights(self, workdir: str, step: int):
        expected, got = _values(self.reference, step), _values(workdir, step)
        self.assertEqual(sorted(got), sorted(expected))
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-5,
                                       err_msg=f"{name} at step {step} in {workdir}")
        moved = max(float(np.max(np.abs(_values(self.reference, 0)[n] - expected[n])))
                    for n in expected if "optimizer/_trainable_variables" in n)
        self.assertGreater(moved, 1e-3)   # the compared weights did train

    def test_a_run_started_on_one_device_resumes_on_two_and_the_other_way_round(self):
        # one device to step 2, two devices to 4, one device again to 6: one chain
        chain = os.path.join(self._tmp.name, "one_two_one")
        shutil.copytree(self.halfway, chain)
        err = _run(chain, "--steps=4", "--distribute=mirrored", "--cpu_devices=2")
        self.assertIn("resuming at step 2 of 4", err)
        self.assertIn("distribute: 2 replicas (MirroredStrategy)", err)
        self.assertSameWeights(chain, 4)
        self.assertIn("resuming at step 4 of 6", _one_device(chain, "--steps=6"))
        self.assertSameWeights(chain, 6)

    def test_two_local_workers_equal_one_process_and_a_killed_job_resumes_exactly(self):
        """... and Ctrl-C on one worker of the resumed job stops both at one step, saved."""
        workdir = os.path.join(self._tmp.name, "workers")
        with Workers(workdir, "--steps=8", "--checkpoint_every=1") as job:
            # Kill worker 1 as soon as the chief has saved step 2, then the blocked chief.
            deadline = time.monotonic() + TIMEOUT
            while not os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-2.index")):
                self.assertLess(time.monotonic(), deadline, job.output(0)[-3000:])
                self.assertIsNone(job.procs[0].poll(), job.output(0)[-3000:])
                time.sleep(0.05)
            job.kill(1)
            job.kill(0)
        self.assertSameWeights(workdir, 2)
        # The restarted job runs on past the reference's last step (it is stopped, not ended):
        # once the chief has saved step 6, Ctrl-C on worker 1.
        with Workers(workdir, "--steps=100000", "--checkpoint_every=1") as job:
            deadline = time.monotonic() + TIMEOUT
            while not os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-6.index")):
                self.assertLess(time.monotonic(), deadline, job.output(0)[-3000:])
                self.assertIsNone(job.procs[0].poll(), job.output(0)[-3000:])
                time.sleep(0.05)
            job.procs[1].send_signal(signal.SIGINT)
            self.assertEqual(job.wait(), [130, 130], job.output(0)[-2000:] + job.output(1))
            resumed = [int(RESUMING.search(job.output(i)).group(1)) for i in range(2)]
            stopped = [INTERRUPTED.search(job.output(i)) for i in range(2)]
        self.assertEqual(resumed[0], resumed[1])
        self.assertTrue(2 <= resumed[0] < 6, resumed)     # the kill came mid-run
        self.assertSameWeights(workdir, 6)                 # nothing lost, nothing repeated
        self.assertTrue(all(stopped), stopped)
        self.assertEqual(stopped[0].group(1), stopped[1].group(1))
        saved = int(stopped[0].group(1))
        self.assertGreaterEqual(saved, 6)
        self.assertTrue(os.path.exists(os.path.join(workdir, "checkpoints",
                                                    f"ckpt-{saved}.index")))
        if saved <= 8 and saved % 2 == 0:
            self.assertSameWeights(workdir, saved)
        self.assertEqual(sorted(os.listdir(workdir)),      # the chief wrote; the rest cleaned up
                         ["checkpoints", "config.json", "samples", "tensorboard"])

    def test_a_meta_batch_the_replicas_cannot_split_is_one_error_line(self):
        proc = subprocess.run(_trainer(os.path.join(self._tmp.name, "odd"), "--steps=2",
                                       "--meta_batch_size=3", "--distribute=mirrored",
                                       "--cpu_devices=2"),
                              cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stderr.strip().splitlines()[-1],
                         "error: --meta_batch_size=3 cannot be split evenly across 2 "
                         "replicas; use a multiple of 2")


class DistributedFewShotTest(unittest.TestCase):
    """trainers.few_shot: MAML with its Conv-4 (batch norm) on 2 logical devices."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        folder = write_folder_dataset(os.path.join(self._tmp.name, "images"))
        self.args = [f"--folder={folder}", "--dataset=folder", "--ways=3", "--shots=1",
                     "--queries=2", "--meta_batch_size=2", "--steps=2", "--eval_every=1000",
                     "--eval_episodes=2", "--filters=8", "--algorithm=maml"]

    def tearDown(self):
        self._tmp.cleanup()

    def test_maml_on_two_devices_equals_one_and_metric_learners_refuse(self):
        one, two = (os.path.join(self._tmp.name, n) for n in ("one", "two"))
        status, err = _run_here(few_shot, f"--workdir={one}", *self.args)   # one device, here
        self.assertEqual(status, 0, err[-3000:])
        proc = subprocess.run([sys.executable, "-m", "trainers.few_shot", f"--workdir={two}",
                               *self.args, "--distribute=mirrored", "--cpu_devices=2"],
                              cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        self.assertIn("distribute: 2 replicas (MirroredStrategy)", proc.stderr)
        expected, got = _values(one, 2), _values(two, 2)
        self.assertEqual(sorted(got), sorted(expected))
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-5,
                                       err_msg=name)
        # The refusal needs no second device: a MirroredStrategy over this process's one CPU.
        status, err = _run_here(few_shot, f"--workdir={os.path.join(self._tmp.name, 'proto')}",
                                *self.args, "--algorithm=protonet", "--distribute=mirrored")
        self.assertEqual(status, 1)
        self.assertEqual(err.strip().splitlines()[-1],
                         "error: --distribute applies to the gradient-based algorithms (maml, "
                         "fomaml, metasgd, meta_lstm, hsml, reptile, megan), not "
                         "--algorithm=protonet; use --distribute=none")


if __name__ == "__main__":
    unittest.main()
