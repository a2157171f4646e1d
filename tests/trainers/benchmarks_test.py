"""``python -m trainers.few_shot --dataset=cifar_fs --data_dir=...`` on a CIFAR-100 stand-in.

The trainer runs in this process (``TRAINER.main``) on CIFAR-100's python
folder written in its exact format with a few classes (``benchmark_files``),
the published MD5s replaced by the stand-in's: two updates of 2-way 1-shot
MAML on 32x32 RGB images, and the one-line refusal of a missing file.
"""

from __future__ import annotations

import json

from tests.tfmeta.data import benchmark_files as files
from tests.trainers.few_shot_test import inprocess
from tfmeta.data import cifar100
from tfmeta.data.files import md5_of

TINY = ["--dataset=cifar_fs", "--ways=2", "--shots=1", "--queries=2", "--meta_batch_size=1",
        "--steps=2", "--eval_every=2", "--eval_episodes=2", "--filters=4", "--inner_steps=1",
        "--eval_inner_steps=1"]


def test_few_shot_trains_two_steps_on_cifar_fs_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TFMETA_CACHE_DIR", "off")
    root = files.write_cifar100(tmp_path / "data", per_class=5)
    for name in ("train", "test", "meta"):
        monkeypatch.setitem(cifar100.CHECKSUMS, name, md5_of(root / "cifar-100-python" / name))
    workdir = tmp_path / "run"
    code, out, err = inprocess(f"--workdir={workdir}", f"--data_dir={root}", *TINY)
    assert code == 0, err
    assert "done: step 2 of 2" in out, out
    assert f"data: cifar_fs from {root};" in err, err
    config = json.loads((workdir / "config.json").read_text())
    assert (config["dataset"], config["data_dir"]) == ("cifar_fs", str(root))
    curve = json.loads((workdir / "curve.json").read_text())
    assert [p["step"] for p in curve["points"]] == [0, 2]


def test_few_shot_refuses_a_missing_benchmark_file_in_one_line(tmp_path):
    code, _, err = inprocess(f"--workdir={tmp_path / 'run'}", f"--data_dir={tmp_path}",
                             "--dataset=fc100", "--steps=1")
    assert code != 0
    errors = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.strip().endswith(errors[0]), err
    assert "cifar-100-python.tar.gz is missing" in errors[0], err
