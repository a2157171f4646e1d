"""The export CLIs: ``--export_dir=BASE --name=NAME``, one-line errors, step-0 runs refused.

Started as processes (``python -m ...``) where the process is what is checked (exit
status, the last line of stderr, no traceback, ``--helpshort``); otherwise their
``main`` runs in this process (:func:`fixtures.run_cli`), which exits with the same
``error: ...`` line.
"""

import os
import subprocess
import sys

from absl.testing import absltest

from export import api
from tests.export import fixtures


class ExportCommandLineTest(absltest.TestCase):

    def test_untrained_run_is_refused_in_one_line_unless_allowed(self):
        workdir = fixtures.untrained_run()
        base = os.path.join(fixtures.TMP, "untrained_exports")
        code, out = fixtures.run_cli("export.saved_model", f"--workdir={workdir}",
                                     f"--export_dir={base}", "--name=untrained")
        self.assertEqual((code, out), (f"error: {workdir} is at step 0: its weights are the "
                                       "random initialization, not meta-learned; train it "
                                       "first, or pass --allow_untrained to export it anyway",
                                       ""))
        self.assertFalse(os.path.exists(os.path.join(base, "untrained")))
        path = api.export_run(workdir, base, "untrained", allow_untrained=True, max_samples=4,
                              max_support=4)
        self.assertEqual(path, os.path.join(base, "untrained", "1"))
        self.assertEqual(api.read_metadata(path)["step"], 0)

    def test_the_closing_lines_say_what_is_served_then_where_it_went(self):
        base = os.path.join(fixtures.TMP, "summary_exports")
        workdir = fixtures.tiny_run("maml")
        rates = "at inner rates 0.001 (generator), 0.001 (discriminator)"
        for extra, how in (((), f"1 step in the graph {rates} (the run's default)"),
                           (("--adapt_steps=3",), f"3 steps in the graph {rates}")):
            code, out = fixtures.run_cli("export.saved_model", f"--workdir={workdir}",
                                         f"--export_dir={base}", "--name=m", "--max_samples=8",
                                         "--max_support=8", *extra)
            self.assertIn(code, (0, None), out)
            summary, path = out.strip().splitlines()[-2:]
            self.assertEqual(api.read_metadata(path)["adapt_steps"], int(how[0]))
            self.assertEqual(summary, f"exported the maml run {workdir} at step 1: adapts for "
                                      f"{how}, on up to 8 support images")
        code, out = fixtures.run_cli("export.saved_model", f"--workdir={workdir}",
                                     f"--export_dir={base}", "--name=b", "--baseline_head=logistic")
        self.assertEqual((code, out), (f"error: --baseline_head applies to few-shot baseline "
                                       f"runs; {workdir} is a MAML-GAN run", ""))
        code, out = fixtures.run_cli("export.saved_model", f"--workdir={workdir}",
                                     f"--export_dir={base}", "--name=b", "--finetune_steps=3",
                                     "--finetune_lr=0.5")
        self.assertEqual((code, out), (f"error: --finetune_steps, --finetune_lr apply to "
                                       f"few-shot baseline runs; {workdir} is a MAML-GAN run", ""))
        self.assertFalse(os.path.exists(os.path.join(base, "b")))

    def test_bad_name_bad_bound_and_missing_run_are_one_line_errors(self):
        base = os.path.join(fixtures.TMP, "error_exports")
        workdir = fixtures.untrained_run()
        code, _ = fixtures.run_cli("export.adapted", f"--workdir={workdir}",
                                   f"--export_dir={base}", "--name=a/b", f"--support={base}")
        self.assertEqual(code, "error: --name must be a model name (a letter or digit, then "
                               "letters, digits, '_', '.', '-'), got 'a/b'")
        # The library names the setting (`adapt_steps`); the CLI shows it as its flag.
        code, _ = fixtures.run_cli("export.saved_model", f"--workdir={workdir}",
                                   f"--export_dir={base}", "--name=x", "--allow_untrained",
                                   "--adapt_steps=0")
        self.assertEqual(code, "error: --adapt_steps must be an integer in [1, 100], got 0")
        # As a process: exit status 1, the error the last line of stderr, no traceback.
        missing = os.path.join(fixtures.TMP, "no_such_run")
        line = fixtures.run_failing([sys.executable, "-m", "export.saved_model",
                                     f"--workdir={missing}", f"--export_dir={base}",
                                     "--name=x"])
        self.assertRegex(line, r"^error: .*no_such_run")
        self.assertFalse(os.path.exists(base))

    def test_help_marks_the_required_flags(self):
        for module, required in (("export.saved_model", ["workdir", "export_dir", "name"]),
                                 ("export.adapted", ["workdir", "export_dir", "name",
                                                     "support"])):
            help_text = subprocess.run([sys.executable, "-m", module, "--helpshort"],
                                       cwd=fixtures.ROOT, env=fixtures.quiet_env(),
                                       capture_output=True, text=True, timeout=300).stdout
            for flag in required:
                self.assertIn(f"--{flag}: (required)", help_text)
            self.assertIn("--[no]allow_untrained", help_text)

    def test_support_of_the_wrong_shape_is_a_value_error_naming_the_shape(self):
        with self.assertRaisesRegex(ValueError, r"support images must have shape "
                                                r"\[n, 28, 28, 1\] .*got \[3, 28, 28\]"):
            api.check_support(fixtures.support_images(3)[..., 0], fixtures.IMAGE_SHAPE)
        with self.assertRaisesRegex(ValueError, "got none"):
            api.check_support(fixtures.support_images(0), fixtures.IMAGE_SHAPE)


if __name__ == "__main__":
    absltest.main()
