"""Versions are numbered like TF Serving expects and published atomically."""

import os
import tempfile

from absl.testing import absltest

from export import versions
from tests.export import fixtures


def _write(path):
    os.makedirs(os.path.join(path, "variables"))
    with open(os.path.join(path, "saved_model.pb"), "w") as f:
        f.write("x")


class VersionsTest(absltest.TestCase):

    def setUp(self):
        super().setUp()
        self.model_dir = os.path.join(tempfile.mkdtemp(dir=fixtures.TMP), "model")

    def test_next_version_follows_the_largest_numeric_folder(self):
        self.assertEqual(versions.next_version(self.model_dir), 1)
        for name in ("1", "3", "tmp", ".tmp-9-1", "7x"):
            os.makedirs(os.path.join(self.model_dir, name))
        with open(os.path.join(self.model_dir, "12"), "w"):
            pass                                     # a file, not a version
        self.assertEqual(versions.versions(self.model_dir), [1, 3])
        self.assertEqual(versions.next_version(self.model_dir), 4)

    def test_a_version_appears_only_complete_and_numbers_increase(self):
        seen_while_writing = []

        def write(path):
            _write(path)
            seen_while_writing.append(sorted(os.listdir(self.model_dir)))
            self.assertTrue(os.path.basename(path).startswith(".tmp-"))

        first = versions.write_new_version(self.model_dir, write)
        second = versions.write_new_version(self.model_dir, write)
        self.assertEqual([os.path.basename(first), os.path.basename(second)], ["1", "2"])
        self.assertEqual(versions.versions(self.model_dir), [1, 2])
        self.assertEqual(seen_while_writing[0], [f".tmp-1-{os.getpid()}"])
        self.assertEqual(sorted(os.listdir(self.model_dir)), ["1", "2"])
        self.assertTrue(os.path.exists(os.path.join(second, "saved_model.pb")))

    def test_failed_write_publishes_nothing_and_leaves_no_temporary(self):
        def write(path):
            _write(path)
            raise RuntimeError("disk full")

        with self.assertRaisesRegex(RuntimeError, "disk full"):
            versions.write_new_version(self.model_dir, write)
        self.assertEqual(os.listdir(self.model_dir), [])

    def test_a_number_taken_meanwhile_goes_to_the_next_free_one(self):
        def write(path):
            _write(path)
            _write(os.path.join(self.model_dir, "1"))   # another exporter published 1

        published = versions.write_new_version(self.model_dir, write)
        self.assertEqual(os.path.basename(published), "2")
        self.assertEqual(sorted(os.listdir(self.model_dir)), ["1", "2"])


if __name__ == "__main__":
    absltest.main()
