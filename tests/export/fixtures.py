"""Tiny real MAML-GAN runs on MNIST and their exports, made once per test process.

Each run meta-trains one step of a tiny DCGAN (widths 8, latent 16, batch 8,
1 inner step; Reptile 2, so that a served adaptation's second step, with its own random
subset of a large support set, is checked too) on the offline MNIST copy; its closing sample grid
shows one adaptation step (``grid_steps=(1,)``). The Meta-SGD run's learned
rates are then set to distinctly non-uniform values (and checkpointed), so a
served adaptation that ignored them, or used one rate for all, would differ.
The maml run is exported by the CLI ``export.saved_model`` and the adapted
generator by ``export.adapted``, each run in this process by :func:`run_cli`
(what they do is tested here; starting a process is tested in ``cli_test``);
the others by :func:`export.api.export_run`, the function the CLI calls.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import logging as py_logging
import os
import subprocess
import tempfile
import warnings

import numpy as np
import tensorflow as tf

from export import api
from tests.shared import ROOT, tfds_dir
from tfmeta.experiments import maml_gan as lib
from tfmeta.training import checkpoint_manager

TINY = dict(dataset="mnist", download=False, inner_steps=1, meta_batch_size=2, batch_size=8,
            generator_width=8, discriminator_width=8, latent_dim=16, checkpoint_every=1,
            sample_every=1000, summary_every=1, grid_samples=2, grid_steps=(1,), inner_lr=1e-3,
            outer_lr=1e-3, steps=1)
MAX_SAMPLES, MAX_SUPPORT = 64, 32
IMAGE_SHAPE = (28, 28, 1)

_TMP = tempfile.TemporaryDirectory(prefix="tfmeta-export-tests-")   # removed at exit
TMP = _TMP.name


def quiet_env() -> dict:
    """The environment of subprocesses: the project importable, TF's C++ logs quiet."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_checked(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs a command from the project root; fails with its output if it fails."""
    proc = subprocess.run(args, cwd=ROOT, env=quiet_env(), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_cli(module: str, *args: str) -> tuple[object, str]:
    """``python -m MODULE ARGS`` of an absl CLI run in this process: ``(exit code, stdout)``.

    A fresh copy of the module is executed (not as ``__main__``), its flags are
    parsed from ``args`` and its ``main`` called; the exit code is ``0``, or what it
    passed to ``sys.exit`` (e.g. its ``"error: ..."`` line). Its flags live in
    absl's global registry only during the call (then they are removed and the
    registry is left unparsed again), so CLIs that share flag names (``--workdir``)
    run one after the other in one process; logging and warning settings the CLI
    changes are restored too. Other exceptions propagate.
    """
    from absl import flags
    from absl import logging as absl_logging
    registry = flags.FLAGS
    before, was_parsed = set(registry), registry.is_parsed()
    verbosity = absl_logging.get_verbosity()
    tf_level = py_logging.getLogger("tensorflow").level
    spec = importlib.util.find_spec(module)
    cli = importlib.util.module_from_spec(spec)
    out = io.StringIO()
    try:
        with warnings.catch_warnings():
            spec.loader.exec_module(cli)              # defines its flags
            argv = registry([module, *args])          # parses them (required ones checked)
            with contextlib.redirect_stdout(out):
                try:
                    cli.main(argv)
                    code = 0
                except SystemExit as e:
                    code = e.code
    finally:
        for name in set(registry) - before:
            delattr(registry, name)
        if not was_parsed:
            registry.unparse_flags()
        absl_logging.set_verbosity(verbosity)
        py_logging.getLogger("tensorflow").setLevel(tf_level)
    return code, out.getvalue()


def run_cli_checked(module: str, *args: str) -> str:
    """:func:`run_cli` that must succeed; returns the last line it printed."""
    code, out = run_cli(module, *args)
    if code not in (0, None):
        raise AssertionError(f"{module} {' '.join(args)} exited {code!r}:\n{out}")
    return out.strip().splitlines()[-1]


# Runs named other than by their algorithm: fomaml with meta-learned per-layer step sizes,
# maml with a spectrally normalized discriminator.
VARIANTS = {"fomaml_scales": dict(algorithm="fomaml", layer_scales=True, loss="non-saturating"),
            "maml_sn": dict(algorithm="maml", spectral_norm=True, loss="non-saturating")}


@functools.lru_cache(maxsize=None)
def tiny_run(algorithm: str) -> str:
    """The workdir of a one-step run of ``algorithm`` (or of a run in ``VARIANTS``)."""
    workdir = os.path.join(TMP, "runs", algorithm)
    overrides = dict(VARIANTS.get(algorithm, dict(algorithm=algorithm)))
    if algorithm == "reptile":   # exported with adapt_steps 2 (its first-order run traces fast)
        overrides["inner_steps"] = 2
    config = lib.MamlGanConfig(data_dir=str(tfds_dir()), **dict(TINY, **overrides))
    lib.run(config, workdir)
    if algorithm == "metasgd":
        setup, _ = lib.load_run(workdir)
        rng = np.random.default_rng(7)
        for player in ("generator", "discriminator"):
            for rate in setup.inner[player].variables:
                rate.assign(config.inner_lr * rng.uniform(0.2, 5.0, rate.shape).astype("float32"))
    if algorithm == "fomaml_scales":   # scales far from 1, so that the export must carry them
        setup, _ = lib.load_run(workdir)
        rng = np.random.default_rng(8)
        for player in ("generator", "discriminator"):
            for scale in setup.inner[player].variables:
                scale.assign(np.float32(rng.uniform(0.2, 3.0)))
    if algorithm in ("metasgd", "fomaml_scales"):
        step = int(setup.checkpoint.step.numpy())
        checkpoint_manager(setup.checkpoint, workdir).save(checkpoint_number=step + 1)
    return workdir


@functools.lru_cache(maxsize=None)
def exported(algorithm: str) -> str:
    """The version directory of the run's export (adapt_steps: the run's inner_steps)."""
    base, name = os.path.join(TMP, "exports"), f"{algorithm}_gan"
    if algorithm == "maml":
        path = run_cli_checked("export.saved_model", f"--workdir={tiny_run(algorithm)}",
                               f"--export_dir={base}", f"--name={name}",
                               f"--max_samples={MAX_SAMPLES}", f"--max_support={MAX_SUPPORT}")
    else:
        path = api.export_run(tiny_run(algorithm), base, name, max_samples=MAX_SAMPLES,
                              max_support=MAX_SUPPORT)
    assert os.path.isdir(path), path
    return path


@functools.lru_cache(maxsize=None)
def loaded(algorithm: str):
    """``tf.saved_model.load`` of :func:`exported` (shared: loading is the slow part)."""
    return tf.saved_model.load(exported(algorithm))


@functools.lru_cache(maxsize=None)
def _test_images() -> np.ndarray:
    splits = lib.load_data(lib.MamlGanConfig(data_dir=str(tfds_dir()), **TINY))
    # 40 images of the first held-out digit (7): classes nobody meta-trained on.
    return splits.test.class_batches(0, 0, 1, 40, seed=123)[0].numpy()


def support_images(n: int, offset: int = 0) -> np.ndarray:
    """``n`` real held-out MNIST images, float32 ``[n, 28, 28, 1]`` in [-1, 1]."""
    images = _test_images()
    return images[offset:offset + n].copy()


def write_png_folder(images: np.ndarray, folder: str) -> str:
    """Writes ``[n, H, W, 1]`` images in [-1, 1] as 8-bit PNGs (a user's support folder)."""
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    for i, image in enumerate(images):
        pixels = np.clip(np.rint((image[..., 0] + 1.0) * 127.5), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, f"{i:03d}.png"))
    return folder


ADAPTED_SEED = 3


@functools.lru_cache(maxsize=None)
def adapted_export() -> tuple[str, str]:
    """``(version_dir, support_folder)``: the CLI ``export.adapted`` on 6 PNGs of a 7."""
    folder = write_png_folder(support_images(6, offset=20), os.path.join(TMP, "my_seven"))
    base = os.path.join(TMP, "adapted_exports")
    line = run_cli_checked("export.adapted", f"--workdir={tiny_run('maml')}",
                           f"--export_dir={base}", "--name=my_seven", f"--support={folder}",
                           f"--seed={ADAPTED_SEED}", f"--max_samples={MAX_SAMPLES}")
    expected = (f"6 support images from {os.path.abspath(folder)} (dark background, as the "
                f"run's data), 1 adaptation step -> ")
    assert line.startswith(expected), line
    return line[len(expected):], folder


@functools.lru_cache(maxsize=None)
def untrained_run() -> str:
    """A run at step 0: the tiny maml run's config and a checkpoint of its fresh weights
    (nothing is trained, nor any data read)."""
    workdir = os.path.join(TMP, "runs", "untrained")
    config = lib.MamlGanConfig(data_dir=str(tfds_dir()), **TINY)
    setup = lib.build(config, IMAGE_SHAPE)
    lib.write_config(config, workdir)
    checkpoint_manager(setup.checkpoint, workdir).save(checkpoint_number=0)
    assert int(setup.checkpoint.step.numpy()) == 0
    return workdir


def run_failing(args: list[str], timeout: float = 300) -> str:
    """Runs a command that must fail; returns the last line of its stderr (its error)."""
    proc = subprocess.run(args, cwd=ROOT, env=quiet_env(), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode == 0:
        raise AssertionError(f"{args} succeeded:\n{proc.stdout}\n{proc.stderr}")
    if "Traceback" in proc.stderr:
        raise AssertionError(f"{args} printed a traceback:\n{proc.stderr}")
    return proc.stderr.strip().splitlines()[-1]
