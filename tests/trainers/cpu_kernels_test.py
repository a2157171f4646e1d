"""The command-line tools run TensorFlow with its oneDNN CPU kernels unless told otherwise.

TensorFlow turns them on by itself only on CPUs with AVX-512 VNNI or newer; on others the GAN
meta-updates ran up to 1.7x faster with them (bench/README.md). ``quiet_start``
(a CLI's first call, before TensorFlow is imported) sets ``TF_ENABLE_ONEDNN_OPTS=1`` where
the environment sets nothing, and an explicit setting wins. The process test asks
TensorFlow itself whether oneDNN is on, in a fresh process as a user's CLI starts.
"""

import os
import signal
import subprocess
import sys
import unittest

from tests.shared import ROOT
from trainers import common

PROBE = ("from trainers import common; common.quiet_start(['probe']); "
         "from tensorflow.python.util import _pywrap_util_port as port; "
         "print('onednn', port.IsMklEnabled())")


class QuietStartTest(unittest.TestCase):

    def setUp(self):
        saved = {k: os.environ.get(k) for k in (common.ONEDNN, "TF_CPP_MIN_LOG_LEVEL")}
        handler, quiet = signal.getsignal(signal.SIGINT), common._QUIET

        def restore():
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
            signal.signal(signal.SIGINT, handler)
            common._QUIET = quiet
        self.addCleanup(restore)

    def test_onednn_is_turned_on_where_the_environment_says_nothing(self):
        os.environ.pop(common.ONEDNN, None)
        common.quiet_start(["trainer"])
        self.assertEqual(os.environ[common.ONEDNN], "1")

    def test_an_explicit_setting_wins(self):
        for value in ("0", "1"):
            os.environ[common.ONEDNN] = value
            common.quiet_start(["trainer", "--verbose"])
            self.assertEqual(os.environ[common.ONEDNN], value)


class ProcessTest(unittest.TestCase):

    def probe(self, value):
        env = {k: v for k, v in os.environ.items() if k != common.ONEDNN}
        if value is not None:
            env[common.ONEDNN] = value
        proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        return proc.stdout.strip().splitlines()[-1]

    def test_a_cli_process_runs_tensorflow_with_onednn_unless_told_not_to(self):
        self.assertEqual(self.probe(None), "onednn True")
        self.assertEqual(self.probe("0"), "onednn False")


if __name__ == "__main__":
    unittest.main()
