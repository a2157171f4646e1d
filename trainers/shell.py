"""The one command-line shell of every trainer: flags from config fields, settings, run, report.

A trainer declares its experiment as a :class:`Trainer` (config class,
presets, how to run it, its banner line and its closing lines); the shell
does the rest, the same way for all of them:

* one flag per config field, generated from the field's declaration, and the
  shell's own flags (:mod:`trainers.fields`);
* one settings resolution (flags given > the stored run > the preset);
* one banner, one progress bar with its time estimate (:mod:`trainers.progress`),
  one Ctrl-C path (checkpoint after the running update, exit 130), one closing line;
* errors as one line, with the library's backticked field names shown as
  ``--flags``.

Each trainer has its own :class:`absl.flags.FlagValues`, so a test (or a
notebook) can run one in-process: ``few_shot.TRAINER.main(["--workdir=x"])``
returns the exit status.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable, Mapping, Sequence

from absl.flags import FlagValues

from trainers import common, fields
from trainers import progress as progress_lines
from trainers.common import native_logs_filtered, quiet_start, to_flags  # noqa: F401

INTERRUPTED_EXIT = common.INTERRUPTED_EXIT


# --- The declaration -------------------------------------------------------------------------

@dataclasses.dataclass
class Hooks:
    """What the shell hands an experiment's run: progress callbacks and the stop event."""
    step: Callable[[int, dict], None]
    event: Callable[[str, int], None]
    curve: Callable[[list], None]
    stop: Any


@dataclasses.dataclass
class Trainer:
    """A command-line trainer, declared: the experiment, its presets, its lines.

    Attributes:
      name: the module's short name (``few_shot``), first word of the banner.
      doc: the module's docstring, the head of ``--help``.
      config: the experiment's frozen config dataclass (fields made with
        :func:`tfmeta.experiments.settings.setting`).
      run: ``run(config, workdir, hooks, preset=..., strategy=...) -> result``;
        the result has ``interrupted`` and ``step`` (attributes or keys).
      describe: ``describe(config) -> str``: the banner's first line(s).
      report: ``report(result, config, workdir) -> str``: the closing lines (stdout).
      presets: name -> :class:`tfmeta.experiments.settings.Preset`.
      default_preset: the preset of a new run when ``--preset`` is not given;
        ``"auto"`` picks ``auto[0]`` when TensorFlow sees a GPU, else ``auto[1]``.
      workdir: the default ``--workdir`` (None: required).
      workdir_help: what the run directory holds.
      distribute: whether ``--distribute`` and ``--cpu_devices`` exist.
      check_workdir: ``check(config, workdir)`` before anything runs (resume checks).
      latest_checkpoint: ``(workdir) -> (path, step) | None``, the newest checkpoint
        of a run to resume, for the banner.
      stored: ``stored(workdir) -> dict | None``: the stored run's config.json.
      unit: what one update is called (or ``unit(config) -> str``).
      postfix: progress-bar label -> metric name of ``hooks.step``'s metrics.
      curve_postfix: ``(point) -> {label: text}`` for the bar after a curve point.
      curve_line: ``(point) -> str`` said for a curve point scored before the bar starts.
      on_data: ``(config, workdir, step) -> str``: what is said once data loaded.
      pause: ``(config, step) -> str | None``: the bar's text while the run pauses
        after ``step`` (scoring, drawing).
      cpu_hint: ``(config, preset, workdir) -> str | None``: added to the estimate
        when no GPU is visible.
    """
    name: str
    doc: str
    config: type
    run: Callable[..., Any]
    describe: Callable[[Any], str]
    report: Callable[[Any, Any, str], str]
    presets: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    default_preset: str | None = None
    auto: tuple[str, str] | None = None
    workdir: str | None = None
    workdir_help: str = "config.json, checkpoints/, tensorboard/"
    distribute: bool = False
    check_workdir: Callable[[Any, str], None] | None = None
    latest_checkpoint: Callable[[str], tuple[str, int] | None] | None = None
    stored: Callable[[str], dict | None] | None = None
    unit: str | Callable[[Any], str] = "meta-update"
    postfix: Mapping[str, str] = dataclasses.field(default_factory=dict)
    curve_postfix: Callable[[dict], dict] | None = None
    curve_line: Callable[[dict], str] | None = None
    on_data: Callable[[Any, str, int], str] | None = None
    pause: Callable[[Any, int], str | None] | None = None
    cpu_hint: Callable[[Any, str | None, str], str | None] | None = None
    _flags: FlagValues | None = dataclasses.field(default=None, repr=False)

    # -- flags --

    @property
    def flags(self) -> FlagValues:
        """This trainer's flags (defined on first use)."""
        if self._flags is None:
            self._flags = fields.define_flags(self)
        return self._flags

    def unit_of(self, config) -> str:
        return self.unit(config) if callable(self.unit) else self.unit

    def flag_names(self) -> set[str]:
        return set(self.flags)

    def parse(self, argv: Sequence[str]) -> None:
        """Parses ``argv`` (no program name) into :attr:`flags` (see :func:`fields.parse`)."""
        fields.parse(self.flags, argv)

    def given(self) -> dict[str, Any]:
        """The config fields set on the command line, as the config wants them."""
        return fields.given_values(self.config, self.flags)

    def resolve(self, gpu: bool = False):
        """The run's settings from the parsed flags: ``(config, preset, how)``."""
        from tfmeta.experiments import settings
        fv = self.flags
        stored = self.stored(fv.workdir) if self.stored else None
        preset = fv.preset if "preset" in fv and fv["preset"].present else None
        return settings.resolve(self.config, self.presets, given=self.given(), stored=stored,
                                preset=preset, default_preset=self.default_preset,
                                auto=self.auto, gpu=gpu)

    # -- running --

    def main(self, argv: Sequence[str]) -> int:
        """Runs the trainer on ``argv`` (without the program name); returns the exit status."""
        if any(a in ("--help", "-help", "-h", "--helpfull", "--helpshort", "-?")
               for a in argv):
            print(self.help())
            return 0
        progress = None
        names = self.flag_names() | {f.name for f in dataclasses.fields(self.config)}
        try:
            self.parse(argv)
            fv = self.flags
            common.apply_verbosity(fv.verbose)
            strategy = (common.make_strategy(fv.distribute, fv.cpu_devices)
                        if self.distribute else None)
            gpu = common.gpu_visible()
            config, preset, how = self.resolve(gpu)
            if self.check_workdir is not None:
                self.check_workdir(config, fv.workdir)
            else:
                refuse_file_workdir(config, fv.workdir)
            common.say(self.banner(config, preset, how, fv.workdir))
            if strategy is not None:
                common.say(common.distribute_line(strategy))
            progress = progress_lines.Progress(self, config, fv.workdir, gpu, preset)
            with common.StopOnSignal(on_signal=lambda: common.say(
                    f"stopping after the running {self.unit_of(config)}; Ctrl-C again quits at "
                    "once (the last checkpoint is kept)")) as stop:
                hooks = Hooks(progress.step, progress.event, progress.curve, stop.event)
                result = self.run(config, fv.workdir, hooks, preset=preset, strategy=strategy)
            progress.close()
        except Exception as e:   # noqa: BLE001  (one line for the errors a user can fix)
            from tfmeta.training import Diverged
            if progress is not None:
                progress.close()
            if not isinstance(e, (ValueError, OSError, FloatingPointError, Diverged)):
                raise
            sys.stderr.write(f"error: {to_flags(str(e), names)}\n")
            return 1
        if _get(result, "interrupted"):
            common.say(f"interrupted at step {_get(result, 'step')}; saved; rerun the same "
                       "command to resume")
            return INTERRUPTED_EXIT
        text = self.report(result, config, fv.workdir)
        if text:
            print(text, flush=True)
        return 0

    def start(self) -> None:
        """``if __name__ == "__main__": TRAINER.start()``: runs on ``sys.argv``, exits."""
        sys.exit(self.main(sys.argv[1:]))

    def help(self) -> str:
        """The trainer's docstring and every flag with its help, default and type."""
        return fields.help_text(self.doc, self.flags)

    def banner(self, config, preset: str | None, how: str, workdir: str) -> str:
        """What is about to run, its preset, and where (new or resumed)."""
        return progress_lines.banner(self, config, preset, how, workdir)


def refuse_file_workdir(config, workdir: str) -> None:
    """``check_workdir`` of trainers without resume: the run directory must not be a file."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ValueError(f"`workdir`={workdir} is a file, not a directory")


def _get(result, name):
    """``result.name``, or ``result[name]`` for a plain results dict."""
    if hasattr(result, name):
        return getattr(result, name)
    return result.get(name) if isinstance(result, dict) else None
