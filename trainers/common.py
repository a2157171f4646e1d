"""Helpers shared by the command-line tools: quiet logs, Ctrl-C, progress bars, data dir."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import tempfile


PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_data_dir() -> str | None:
    """The TFDS data directory the trainers use when ``--data_dir`` is not given.

    ``TFDS_DATA_DIR`` if set; else the offline copy ``../shared/tensorflow_datasets``
    next to the project root when it exists (this workplace, CI); else None, which
    lets TFDS use its own default (``~/tensorflow_datasets``) and download there.
    """
    if os.environ.get("TFDS_DATA_DIR"):
        return os.environ["TFDS_DATA_DIR"]
    shared = os.path.join(PROJECT_ROOT, "..", "shared", "tensorflow_datasets")
    return os.path.normpath(shared) if os.path.isdir(shared) else None


def to_flags(message: str, names=None) -> str:
    """``message`` with every backticked name in ``names`` shown as ``--name``.

    The library names settings in backticks (`` `ways` ``); a command line shows its flags
    as flags (``names``: default, absl's registry); other backticked words lose the backticks.

    Example:
        >>> to_flags("`ways` must be >= 2, got 1", {"ways"})
        '--ways must be >= 2, got 1'
    """
    if names is None:
        from absl import flags
        names = set(flags.FLAGS)
    names = set(names)
    return re.sub(r"`([A-Za-z_][A-Za-z0-9_]*)`",
                  lambda m: f"--{m.group(1)}" if m.group(1) in names else m.group(1), message)


def progress_bar(total: int, desc: str, initial: int = 0):
    """A tqdm bar on stderr (elapsed, rate and time left); quiet when not a TTY in CI.

    It follows the terminal's size; one that reports none (0 x 0: a bare pseudo-terminal)
    counts as 100 x 20, where tqdm would print nothing.
    """
    from tqdm import tqdm
    try:
        sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
    except (OSError, ValueError, AttributeError):
        sized = False
    return tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, dynamic_ncols=sized,
                ncols=None if sized else 100, nrows=None if sized else 20,
                mininterval=1.0 if sys.stderr.isatty() else 30.0)


# --- The first hour: quiet logs, a stop on Ctrl-C/SIGTERM, the device, progress ------------

VERBOSE_FLAG = "verbose"
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"   # read once, when TensorFlow starts
INTERRUPTED_EXIT = 130   # what a shell reports for Ctrl-C


def onednn_default() -> None:
    """``ONEDNN=1`` unless the environment says: TensorFlow's oneDNN CPU kernels, which it turns
    on itself only on AVX-512 VNNI CPUs (bench/README.md). Call before TensorFlow starts."""
    os.environ.setdefault(ONEDNN, "1")


def wants_verbose(argv: list[str]) -> bool:
    """Whether ``argv`` turns on ``--verbose`` (read before absl parses the flags)."""
    verbose = False
    for arg in argv[1:]:
        if arg == "--":
            break
        if arg in ("--verbose", "-verbose"):
            verbose = True
        elif arg in ("--noverbose", "-noverbose"):
            verbose = False
        elif arg.startswith(("--verbose=", "-verbose=")):
            verbose = arg.split("=", 1)[1].lower() in ("1", "true", "t", "yes", "y")
    return verbose


def quiet_start(argv: list[str] | None = None) -> None:
    """Call at the top of a CLI, before TensorFlow is imported.

    :func:`onednn_default`; without ``--verbose``: C++ logs off (``TF_CPP_MIN_LOG_LEVEL=3``
    unless set) and Ctrl-C during start-up exits quietly (130), no import traceback;
    :func:`apply_verbosity` quiets absl and TensorFlow's Python logs once flags are parsed.
    """
    global _QUIET
    argv = sys.argv if argv is None else argv
    onednn_default()
    if not wants_verbose(argv):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        _QUIET = True
    signal.signal(signal.SIGINT, _exit_quietly)


_QUIET = False
# Lines TensorFlow's native code writes before its log level applies: "WARNING: All log messages
# before absl::InitializeLog() ..." and "I0000 ... cudart_stub.cc:31] Could not find cuda drivers"
# (CUDA builds without a GPU driver), and "E0000 ... cuda_platform.cc:52] failed call to cuInit"
# (a CUDA runtime but no usable GPU: TensorFlow runs on the CPU; the estimate line says so).
_NATIVE_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IW]\d{4} |"
                           r"E\d{4} .*cuda_platform\.cc:\d+\] failed call to cuInit)")


@contextlib.contextmanager
def native_logs_filtered():
    """After :func:`quiet_start` without --verbose: drops TensorFlow's early INFO/WARNING lines.

    Native code writes them to file descriptor 2 during ``import tensorflow`` and the first
    device query, before ``TF_CPP_MIN_LOG_LEVEL`` applies; the block's stderr goes to a temporary
    file and all but those lines is written back afterwards. A no-op when not quiet.
    """
    if not _QUIET:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines(True)
                    if not _NATIVE_NOISE.match(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def _exit_quietly(signum, frame):
    del frame
    sys.stderr.write("\n")
    os._exit(INTERRUPTED_EXIT if signum == signal.SIGINT else 128 + signum)


def define_verbose_flag(flag_values=None) -> None:
    """``--verbose``: TensorFlow and absl logs as they are (default: warnings off)."""
    from absl import flags
    flag_values = flags.FLAGS if flag_values is None else flag_values
    if VERBOSE_FLAG in flag_values:   # several tools imported into one process (tests)
        return
    flags.DEFINE_bool(VERBOSE_FLAG, False, "Show TensorFlow's native log lines (INFO, "
                      "WARNING, ERROR) and absl INFO lines; by default only this program's "
                      "own lines and Python-side warnings appear.", flag_values=flag_values)


def apply_verbosity(verbose: bool) -> None:
    """absl INFO and TensorFlow's Python logs when ``verbose``; warnings and up otherwise."""
    import logging as py_logging
    import warnings
    from absl import logging
    logging.set_verbosity(logging.INFO if verbose else logging.WARNING)
    py_logging.getLogger("tensorflow").setLevel(py_logging.INFO if verbose else py_logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore", module="keras")
        warnings.filterwarnings("ignore", module="tensorflow")


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow inside :func:`native_logs_filtered` (its start-up lines dropped)."""
    with native_logs_filtered():
        import tensorflow as tf
        tf.config.list_physical_devices()   # the device query logs too


HEAD_FLAGS = ("baseline_head", "finetune_steps", "finetune_lr")


def define_head_flags(use: str) -> None:
    """The head flags: a baseline run ``use``d ("score", "serve") with another head or tuning."""
    from absl import flags
    flags.DEFINE_string("baseline_head", None, f"Baseline runs only: {use} with this head, no "
                        "retraining (centroid, logistic or finetune; default: the run's).")
    flags.DEFINE_integer("finetune_steps", None, f"Baseline runs only: {use} with the finetune "
                         "head taking this many steps (0: imprinted; default: the run's).")
    flags.DEFINE_float("finetune_lr", None, f"Baseline runs only: {use} with the finetune head "
                       "at this rate (default: the run's --finetune_lr).")


def head_values(flag_values) -> dict:
    """The head flags' values by name (None where not given)."""
    return {name: flag_values[name].value for name in HEAD_FLAGS}


DISTRIBUTE_FLAGS = ("distribute", "cpu_devices")


def define_distribute_flags(flag_values=None) -> None:
    """``--distribute`` and ``--cpu_devices`` (see docs/distributed.md)."""
    from absl import flags
    flag_values = flags.FLAGS if flag_values is None else flag_values
    flags.DEFINE_enum("distribute", "none", ["none", "mirrored", "multi_worker"],
                      "Split each meta-batch across replicas: none (one device); mirrored "
                      "(tf.distribute.MirroredStrategy: every local GPU, or the CPU); "
                      "multi_worker (MultiWorkerMirroredStrategy over the processes and "
                      "machines in $TF_CONFIG; the workdir must be shared). The meta-batch "
                      "size must be a multiple of the replicas; a run resumes under any "
                      "setting. See docs/distributed.md.", flag_values=flag_values)
    flags.DEFINE_integer("cpu_devices", 0, "Split the CPU into this many logical devices "
                         "(0: as TensorFlow sees it), e.g. to try --distribute=mirrored "
                         "without GPUs; they share the CPU's cores.", lower_bound=0,
                         flag_values=flag_values)


def make_strategy(kind: str, cpu_devices: int = 0):
    """The strategy of ``--distribute`` (None for ``none``), after ``--cpu_devices``.

    Call it first in ``main`` (both must come before TensorFlow's first op); a bad setting
    raises ValueError with one line.
    """
    from tfmeta import distribute
    with native_logs_filtered():
        return distribute.make_strategy(kind, cpu_devices)


def distribute_line(strategy) -> str:
    """``distribute: 2 replicas (MirroredStrategy), worker 0 of 2 (chief)``."""
    from tfmeta import distribute
    line = (f"distribute: {strategy.num_replicas_in_sync} replicas "
            f"({type(strategy).__name__})")
    if not distribute.is_single_process(strategy):
        resolver = strategy.cluster_resolver
        workers = sum(len(v) for v in resolver.cluster_spec().as_dict().values())
        line += (f", {resolver.task_type} {resolver.task_id} of {workers} processes"
                 f"{' (chief)' if distribute.is_chief(strategy) else ''}")
    return line


def gpu_visible() -> bool:
    """Whether TensorFlow sees a GPU."""
    import tensorflow as tf
    with native_logs_filtered():
        return bool(tf.config.list_physical_devices("GPU"))


class StopOnSignal:
    """A ``threading.Event`` set by the first Ctrl-C (SIGINT) or SIGTERM.

    The first signal only asks the loop to stop (it checkpoints after the running update)
    and restores the default handlers: a second ends the process at once (the last
    checkpoint written stays valid).

    Example:
        >>> with StopOnSignal(on_signal=lambda: print("stopping")) as stop:
        ...     result = run(config, workdir, stop=stop.event)
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, on_signal=None):
        import threading
        self.event, self.signum = threading.Event(), None
        self._on_signal, self._previous = on_signal, {}

    def _handle(self, signum, frame):
        del frame
        self.signum = signum
        self.event.set()
        for s in self.SIGNALS:
            signal.signal(s, signal.SIG_DFL)
        if self._on_signal is not None:
            self._on_signal()

    def __enter__(self):
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        return False


def duration(seconds: float) -> str:
    """``seconds`` for a person: "40 seconds", "12 minutes", "28.5 hours"."""
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def say(line: str) -> None:
    """One line on stderr for the person at the terminal (outside any progress bar)."""
    from tqdm import tqdm
    tqdm.write(line, file=sys.stderr)
