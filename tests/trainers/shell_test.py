"""The one command-line shell: a flag per config field, one resolution, one error line, resume.

Runs the trainers in-process (``TRAINER.main(argv)``): the process is not what is tested here.
"""

import contextlib
import dataclasses
import io
import json
import os
import re
import shutil
import tempfile
import unittest

from absl import flags

from tests.shared import ROOT
from tests.trainers.few_shot_test import write_folder_dataset
from tfmeta.experiments import settings
from trainers import cmaml, common, critic, few_shot, hsml, maml_gan, maml_rl, sinusoid

TRAINERS = (few_shot, maml_gan, hsml, cmaml, critic, sinusoid, maml_rl)
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "runs_b3ab8ee")


def run(trainer, *argv):
    """``(status, stdout, stderr)`` of ``trainer.main(argv)`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = trainer.TRAINER.main(list(argv))
    return status, out.getvalue(), err.getvalue()


class FlagsFromFieldsTest(unittest.TestCase):

    def test_every_config_field_is_a_flag_with_its_help_default_and_type(self):
        kinds = {bool: flags.BooleanFlag, int: int, float: float, str: str}
        for module in TRAINERS:
            trainer = module.TRAINER
            fv = trainer.flags
            for field in dataclasses.fields(trainer.config):
                with self.subTest(trainer=trainer.name, field=field.name):
                    flag = fv[field.name]
                    help_text = common.to_flags(settings.help_of(trainer.config, field.name),
                                                set(fv))
                    shown = re.sub(r"^<[^>]*>: ", "", flag.help)   # absl's enum prefix
                    self.assertTrue(shown.startswith(help_text), flag.help)
                    self.assertNotIn("`", flag.help)
                    default = field.default
                    expected = [str(v) for v in default] if isinstance(default, tuple) else default
                    self.assertEqual(flag.default, expected)
                    choices = settings.choices_of(trainer.config, field.name)
                    if choices is not None:
                        self.assertEqual(list(flag.parser.enum_values), [str(c) for c in choices])
                    elif isinstance(default, bool):
                        self.assertIsInstance(flag, kinds[bool])
                    elif isinstance(default, (int, float)):
                        self.assertEqual(flag.parser.flag_type(),
                                         {int: "int", float: "float"}[type(default)])

    def test_presets_values_are_named_in_the_help(self):
        help_text = few_shot.TRAINER.flags["steps"].help
        self.assertIn("--preset=paper: ", help_text)
        self.assertIn("60000", help_text)
        # A rule's value is shown with its condition, after the preset's own value.
        scales = maml_gan.TRAINER.flags["layer_scales"].help
        self.assertIn("(--preset=cpu: True, False if algorithm=metasgd or reptile)", scales)

    def test_help_lists_every_flag_and_the_docstring(self):
        status, out, _ = run(hsml, "--helpfull")
        self.assertEqual(status, 0)
        self.assertIn("HSML against MAML", out)
        for field in dataclasses.fields(hsml.TRAINER.config):
            self.assertIn(f"--{field.name}: ", out)
        self.assertIn("--workdir: ", out)

    def test_unknown_flag_bad_value_and_bad_setting_are_one_line(self):
        workdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, workdir)
        cases = ((few_shot, ["--bogus=1"], "error: Unknown command line flag 'bogus'"),
                 (few_shot, ["--ways=x"], "error: flag --ways=x: invalid literal for int() "
                                          "with base 10: 'x'"),
                 (few_shot, ["--algorithm=nope"], "error: flag --algorithm=nope: value should "
                                                  "be one of "),
                 (few_shot, ["--ways=1"], "error: --ways must be at least 2, got 1"),
                 (few_shot, ["--preset=paper", "--ways=3"], "error: --preset=paper has no "
                                                            "settings for --ways=3 --shots=1"),
                 (hsml, ["--clusters=4,x"], "error: --clusters must be integers separated by "
                                            "commas, got '4,x'"),
                 (sinusoid, ["extra"], "error: unexpected arguments ['extra']"))
        for module, argv, line in cases:
            with self.subTest(argv=argv):
                status, out, err = run(module, f"--workdir={workdir}/run", *argv)
                self.assertEqual(status, 1)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertTrue(err.startswith(line), err)
                self.assertFalse(os.path.exists(f"{workdir}/run"))
        status, _, err = run(critic)
        self.assertEqual((status, err.strip().splitlines()[0][:26]), (1, "error: --workdir is requir"))

    def test_library_names_fields_and_the_shell_shows_flags(self):
        self.assertEqual(common.to_flags("`ways`=3: `x` and `shots` differ", {"ways", "shots"}),
                         "--ways=3: x and --shots differ")


class ResumeStoredRunTest(unittest.TestCase):
    """Run directories written by main at b3ab8ee (before the shell) resume under it."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def copy(self, name: str) -> str:
        workdir = os.path.join(self.tmp, name)
        shutil.copytree(os.path.join(FIXTURES, name), workdir)
        return workdir

    def test_few_shot_run_resumes_with_its_stored_settings(self):
        workdir = self.copy("few_shot")
        folder = write_folder_dataset(os.path.join(self.tmp, "classes"))
        path = os.path.join(workdir, "config.json")
        stored = json.load(open(path))
        stored["folder"] = folder
        json.dump(stored, open(path, "w"))
        status, out, err = run(few_shot, f"--workdir={workdir}", "--steps=3")
        self.assertEqual(status, 0, err)
        self.assertIn("preset: cpu (as stored with the run)", err)
        self.assertIn("resuming at step 2 of 3", err)
        self.assertIn("few_shot: 3-way 1-shot algorithm=maml steps=3 meta_batch_size=2", err)
        self.assertIn("done: step 3 of 3", out)
        curve = json.load(open(os.path.join(workdir, "curve.json")))["points"]
        self.assertEqual([p["step"] for p in curve], [0, 2, 3])
        self.assertTrue(os.path.exists(os.path.join(workdir, "curve.png")))
        self.assertEqual(json.load(open(path))["filters"], 4)

    def test_maml_gan_run_resumes_with_its_stored_preset(self):
        workdir = self.copy("maml_gan")
        status, out, err = run(maml_gan, f"--workdir={workdir}", "--steps=2")
        self.assertEqual(status, 0, err)
        self.assertIn("preset: cpu (as stored with the run)", err)
        self.assertIn("resuming at step 1 of 2", err)
        self.assertIn("widths=8/8", err)
        self.assertIn("done: step 2 of 2", out)
        self.assertTrue(os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-2.index")))


if __name__ == "__main__":
    unittest.main()
