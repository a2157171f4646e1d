"""``python -m trainers.few_shot`` and ``trainers.few_shot_eval`` as a user runs them.

Both CLIs on a tiny folder dataset written to a temporary directory (12 classes
of 8 PNG images, 28x28, one distinct pattern per class): a 6-update run with
curve points at 0, 3 and 6, its resumption, its evaluation, a Ctrl-C, and the
one-line errors of bad settings. The Ctrl-C run is a real process; the trainer's
other runs run in this process (``TRAINER.main``), once for the whole class, and so
does the evaluation (its ``main``); each test checks one property of them. A
prototypical-network run trains beside them, with the CPU recipe of its
algorithm for the flags not given (60-way training episodes, which 12 classes
cannot give: one error line), and is scored with the MAML run and a figure. A
MeGAN run (first order, so its outer loss defaults to hybrid) trains beside them
too, and one whose --fakes_from its recipe's 5 inner steps never reach is refused.
"""

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
from PIL import Image

from tests.export.fixtures import run_cli
from tests.shared import ROOT

TINY = ["--dataset=folder", "--ways=3", "--shots=1", "--queries=2", "--meta_batch_size=2",
        "--steps=6", "--eval_every=3", "--eval_episodes=5", "--filters=8"]


def user_env() -> dict:
    """The environment of a user's shell: no log level set (the tests' conftest sets one)."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def write_folder_dataset(root: str, classes: int = 12, images: int = 8) -> str:
    """``root/class_XX/NN.png``: class ``c`` is a bright 8x8 square at its own place."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = os.path.join(root, f"class_{c:02d}")
        os.makedirs(folder)
        row, col = 2 + 6 * (c // 4), 2 + 6 * (c % 4)
        for i in range(images):
            pixels = rng.integers(0, 40, size=(28, 28)).astype(np.uint8)
            dy, dx = rng.integers(0, 3, size=2)
            pixels[row + dy:row + dy + 8, col + dx:col + dx + 8] = 255
            Image.fromarray(pixels).save(os.path.join(folder, f"{i:02d}.png"))
    return root


def start(module: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=user_env())


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out, err


def inprocess(*args: str) -> tuple[int, str, str]:
    """``(status, stdout, stderr)`` of ``trainers.few_shot`` run in this process."""
    from trainers import few_shot
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = few_shot.TRAINER.main(list(args))
    return status, out.getvalue(), err.getvalue()


def interrupt_after_first_curve_point(process: subprocess.Popen,
                                      workdir: str) -> tuple[int, str, str]:
    """Ctrl-C (SIGINT) once the run has written its step-0 curve point; its outcome."""
    deadline = time.monotonic() + 300
    while (not os.path.exists(os.path.join(workdir, "curve.json"))
           and process.poll() is None and time.monotonic() < deadline):
        time.sleep(0.2)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    return finish(process)


def last_checkpoint_step(workdir: str) -> int:
    with open(os.path.join(workdir, "checkpoints", "checkpoint")) as f:
        first = f.readline()   # model_checkpoint_path: "ckpt-N"
    return int(first.strip().rstrip('"').rsplit("-", 1)[-1])


class FewShotCliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = cls.tmp.name
        cls.folder = write_folder_dataset(os.path.join(tmp, "images"))
        cls.workdir = os.path.join(tmp, "run")
        cls.args = [f"--workdir={cls.workdir}", f"--folder={cls.folder}", *TINY]
        cls.bad_workdir = os.path.join(tmp, "bad")
        cls.interrupted_workdir = os.path.join(tmp, "interrupted")
        cls.eval_json = os.path.join(tmp, "eval", "scores.json")
        cls.proto_workdir = os.path.join(tmp, "proto")
        cls.plot = os.path.join(tmp, "eval", "time.png")
        proto = [f"--folder={cls.folder}", *TINY, "--algorithm=protonet"]
        cls.megan_workdir = os.path.join(tmp, "megan")
        cls.bad_megan_workdir = os.path.join(tmp, "bad_megan")
        megan = [f"--folder={cls.folder}", *TINY, "--algorithm=megan"]

        # The Ctrl-C run is a real process (its signal handling is the point); the others run
        # in this process, one after the other, while it starts (run CLIs in-process where the
        # test is not about the process).
        long = start("trainers.few_shot", f"--workdir={cls.interrupted_workdir}",
                     f"--folder={cls.folder}", *TINY, "--steps=50", "--eval_every=50",
                     "--eval_episodes=2", "--eval_inner_steps=1")   # its first point: sooner
        cls.bad_fakes_from = inprocess(*megan, f"--workdir={cls.bad_megan_workdir}",
                                       "--fakes_from=5")
        cls.bad_shots = inprocess(f"--workdir={cls.bad_workdir}", f"--folder={cls.folder}",
                                  *TINY, "--shots=0")
        cls.proto_too_many_ways = inprocess(*proto, f"--workdir={os.path.join(tmp, 'proto_60')}")
        cls.interrupted = interrupt_after_first_curve_point(long, cls.interrupted_workdir)
        # One inner step, on the generator's fakes from step 0 (each step traces in the update)
        cls.megan = inprocess(*megan, f"--workdir={cls.megan_workdir}", "--first_order",
                              "--inner_steps=1", "--eval_inner_steps=1", "--fakes_from=0",
                              "--generator_filters=4", "--noise_dim=4", "--steps=2",
                              "--eval_every=2")
        cls.proto = inprocess(*proto, f"--workdir={cls.proto_workdir}", "--train_ways=4",
                              "--train_queries=3")
        cls.trained = inprocess(*cls.args)
        # The same command again, a conflicting one, the evaluation (its main, in this process:
        # what it writes and prints is tested, not the process).
        cls.resumed, cls.conflict = inprocess(*cls.args), inprocess(*cls.args, "--ways=4")
        code, out = run_cli("trainers.few_shot_eval",
                            f"--runs={cls.workdir},{cls.proto_workdir}", "--episodes=5",
                            f"--out={cls.eval_json}", f"--plot={cls.plot}")
        cls.scored = (0 if code is None else code, out, "")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_training_writes_config_checkpoints_curve_points_at_0_3_6_and_the_png(self):
        code, out, err = self.trained
        self.assertEqual(code, 0, err)
        self.assertNotIn("Traceback", err)
        self.assertIn("few_shot: 3-way 1-shot algorithm=maml steps=6", err)
        self.assertIn("(new run)", err)
        self.assertIn("done: step 6 of 6", out)
        self.assertRegex(out, r"held-out accuracy at step 6: \d+\.\d\d \+- \d+\.\d\d% "
                              r"\(5 episodes, 3 inner steps\)")
        self.assertIn(f"next: python -m trainers.few_shot_eval --runs={self.workdir}", out)
        with open(os.path.join(self.workdir, "config.json")) as f:
            config = json.load(f)
        self.assertEqual((config["ways"], config["shots"], config["queries"]), (3, 1, 2))
        self.assertEqual(config["folder"], self.folder)
        self.assertEqual(last_checkpoint_step(self.workdir), 6)
        with open(os.path.join(self.workdir, "curve.json")) as f:
            curve = json.load(f)
        self.assertEqual([p["step"] for p in curve["points"]], [0, 3, 6])
        for point in curve["points"]:
            self.assertTrue(0.0 <= point["accuracy"] <= 1.0, point)
            self.assertGreaterEqual(point["ci95"], 0.0)
            self.assertEqual(point["episodes"], 5)
        with open(os.path.join(self.workdir, "curve.png"), "rb") as f:
            png = f.read()
        self.assertTrue(png.startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertGreater(len(png), 5000)   # a drawn figure, not an empty canvas

    def test_rerun_resumes_at_step_6_without_training(self):
        code, out, err = self.resumed
        self.assertEqual(code, 0, err)
        self.assertIn("resuming at step 6 of 6 from ckpt-6", err)
        self.assertNotIn("compiling the meta-update", err)
        self.assertIn("done: step 6 of 6", out)
        self.assertEqual(last_checkpoint_step(self.workdir), 6)
        with open(os.path.join(self.workdir, "curve.json")) as f:
            self.assertEqual([p["step"] for p in json.load(f)["points"]], [0, 3, 6])

    def test_a_flag_conflicting_with_the_stored_run_is_one_error_line_naming_it(self):
        code, _, err = self.conflict
        self.assertNotEqual(code, 0)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("error: "), err)
        self.assertIn("--ways=4 (the run has 3)", lines[0])

    def test_eval_writes_json_and_markdown_rows_with_accuracy_and_interval(self):
        code, out, err = self.scored
        self.assertEqual(code, 0, err)
        with open(self.eval_json) as f:
            rows = json.load(f)
        self.assertEqual([r["algorithm"] for r in rows], ["maml", "protonet"])
        row = rows[0]
        self.assertEqual({k: row[k] for k in ("run", "algorithm", "ways", "shots", "step",
                                              "inner_steps", "episodes")},
                         {"run": self.workdir, "algorithm": "maml", "ways": 3, "shots": 1,
                          "step": 6, "inner_steps": 3, "episodes": 5})
        self.assertTrue(0.0 <= row["accuracy"] <= 1.0, row)
        self.assertGreaterEqual(row["ci95"], 0.0)
        shown = f"{100 * row['accuracy']:.2f} +- {100 * row['ci95']:.2f}"
        with open(os.path.splitext(self.eval_json)[0] + ".md") as f:
            table = f.read()
        minutes = f"{row['train_seconds'] / 60:.1f} min"
        self.assertIn(f"| {self.workdir} | maml | folder | 3-way 1-shot, transductive | 6 | "
                      f"{minutes} | 3 | 5 | {shown} |", table)
        self.assertIn(shown, out)
        self.assertIsNone(rows[1]["inner_steps"])
        # Each family's default batch norm at test, recorded in the row and shown in the table.
        self.assertEqual([r["transductive"] for r in rows], [True, False])
        self.assertIn(f"| {self.proto_workdir} | protonet | folder | 3-way 1-shot, "
                      "non-transductive | 6 |", table)
        with open(self.plot, "rb") as f:
            self.assertTrue(f.read().startswith(b"\x89PNG\r\n\x1a\n"))

    def test_eval_refuses_baseline_head_for_other_algorithms_in_one_line_naming_the_runs(self):
        code, _ = run_cli("trainers.few_shot_eval", f"--runs={self.workdir},{self.proto_workdir}",
                          "--episodes=1", "--baseline_head=finetune",
                          f"--out={os.path.join(os.path.dirname(self.eval_json), 'n.json')}")
        self.assertEqual(code, f"error: --baseline_head applies to baseline runs only; "
                               f"{self.workdir} is maml, {self.proto_workdir} is protonet")
        code, _ = run_cli("trainers.few_shot_eval", f"--runs={self.workdir}", "--episodes=1",
                          "--finetune_steps=0",
                          f"--out={os.path.join(os.path.dirname(self.eval_json), 'n.json')}")
        self.assertEqual(code, f"error: --finetune_steps applies to baseline runs only; "
                               f"{self.workdir} is maml")

    def test_protonet_takes_its_recipe_and_names_train_ways_when_the_data_has_too_few_classes(
            self):
        code, _, err = self.proto_too_many_ways
        self.assertNotEqual(code, 0)
        self.assertIn("training episodes: 60-way 1-shot 5 queries", err)
        last = err.strip().splitlines()[-1]
        self.assertTrue(last.startswith("error: --train_ways/--shots/--train_queries "
                                        "(training episodes): "), err)
        self.assertIn("60", last)

    def test_protonet_trains_with_curve_points_that_carry_training_seconds(self):
        code, out, err = self.proto
        self.assertEqual(code, 0, err)
        self.assertIn("algorithm=protonet training episodes: 4-way 1-shot 3 queries", err)
        self.assertRegex(out, r"held-out accuracy at step 6: \d+\.\d\d \+- \d+\.\d\d% "
                              r"\(5 episodes\)")
        with open(os.path.join(self.proto_workdir, "curve.json")) as f:
            points = json.load(f)["points"]
        self.assertEqual([p["step"] for p in points], [0, 3, 6])
        seconds = [p["seconds"] for p in points]
        self.assertEqual(seconds[0], 0.0)
        self.assertTrue(0 < seconds[1] <= seconds[2], seconds)

    def test_shots_0_is_one_error_line_naming_shots_and_writes_nothing(self):
        code, _, err = self.bad_shots
        self.assertNotEqual(code, 0, err)
        self.assertEqual(err.strip().splitlines(), ["error: --shots must be an integer >= 1, "
                                                    "got 0"])
        self.assertFalse(os.path.exists(self.bad_workdir))

    def test_sigint_checkpoints_the_current_step_and_exits_130(self):
        code, _, err = self.interrupted
        self.assertEqual(code, 130, err)
        self.assertNotIn("Traceback", err)
        stopped = re.findall(r"interrupted at step (\d+); saved; rerun the same command to "
                             r"resume", err)
        self.assertEqual(len(stopped), 1, err)
        self.assertLess(int(stopped[0]), 50)
        self.assertEqual(last_checkpoint_step(self.interrupted_workdir), int(stopped[0]))

    def test_megan_trains_with_curve_png_and_samples_and_its_fields_in_the_banner(self):
        code, out, err = self.megan
        self.assertEqual(code, 0, err)
        self.assertNotIn("Traceback", err)
        self.assertIn("few_shot: 3-way 1-shot algorithm=megan steps=2 meta_batch_size=2 "
                      "inner_steps=1 (test: 1)", err)
        self.assertIn(" first_order=True conditioning=image real_weight=3.0 fake_weight=1.0 "
                      "fakes_from=0 outer_loss=hybrid generator_inner_lr=0.4 "
                      "generator_filters=4 noise_dim=4", err)
        self.assertRegex(out, r"held-out accuracy at step 2: \d+\.\d\d \+- \d+\.\d\d% "
                              r"\(5 episodes, 1 inner steps\)")
        with open(os.path.join(self.megan_workdir, "curve.json")) as f:
            self.assertEqual([p["step"] for p in json.load(f)["points"]], [0, 2])
        for name in ("curve.png", "samples.png"):
            with open(os.path.join(self.megan_workdir, name), "rb") as f:
                self.assertTrue(f.read().startswith(b"\x89PNG\r\n\x1a\n"), name)
        self.assertEqual(last_checkpoint_step(self.megan_workdir), 2)

    def test_megan_first_order_without_outer_loss_runs_with_the_hybrid_outer_loss(self):
        self.assertEqual(self.megan[0], 0, self.megan[2])
        with open(os.path.join(self.megan_workdir, "config.json")) as f:
            config = json.load(f)
        self.assertEqual({k: config[k] for k in ("algorithm", "first_order", "outer_loss",
                                                 "fakes_from", "inner_steps")},
                         {"algorithm": "megan", "first_order": True, "outer_loss": "hybrid",
                          "fakes_from": 0, "inner_steps": 1})

    def test_megan_fakes_from_beyond_the_recipe_inner_steps_is_one_error_line_naming_it(self):
        code, _, err = self.bad_fakes_from
        self.assertNotEqual(code, 0, err)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("error: "), err)
        self.assertIn("--fakes_from=5", lines[0])
        self.assertIn("--inner_steps=5", lines[0])   # the megan recipe's
        self.assertFalse(os.path.exists(self.bad_megan_workdir))


if __name__ == "__main__":
    unittest.main()
