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
  ``--flags`` (both in :mod:`trainers.failures`).

Each trainer has its own :class:`absl.flags.FlagValues`, so a test (or a
notebook) can run one in-process: ``few_shot.TRAINER.main(["--workdir=x"])``
returns the exit status.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, Callable, Mapping, Sequence

from absl.flags import FlagValues

from trainers import common, failures, fields
from trainers import progress as progress_lines

INTERRUPTED_EXIT = failures.INTERRUPTED_EXIT
quiet_start = common.quiet_start   # a trainer's first lines, before TensorFlow is imported
native_logs_filtered = common.native_logs_filtered


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

    Its attributes: docs/flags.md, "Declaring a trainer".
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
    check_workdir: Callable[[Any, str], None] = failures.refuse_file_workdir
    latest_checkpoint: Callable[[str], tuple[str, int] | None] | None = None
    stored: Callable[[str], dict | None] | None = None
    unit: str | Callable[[Any], str] = "meta-update"
    postfix: Mapping[str, str] = dataclasses.field(default_factory=dict)
    curve_postfix: Callable[[dict], dict] | None = None
    curve_line: Callable[[dict], str] | None = None
    on_data: Callable[[Any, str, int], str] | None = None
    pause: Callable[[Any, int], str | None] | None = None
    cpu_hint: Callable[[Any, str | None, str], str | None] | None = None
    watch: Callable[[Any], Callable[[int, Mapping[str, Any]], str | None]] | None = None
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
            self.check_workdir(config, fv.workdir)
            common.say(self.banner(config, preset, how, fv.workdir))
            if strategy is not None:
                common.say(common.distribute_line(strategy))
            progress = progress_lines.Progress(self, config, fv.workdir, gpu, preset)
            with failures.stop_on_signal(self.unit_of(config)) as stop:
                hooks = Hooks(progress.step, progress.event, progress.curve, stop.event)
                result = self.run(config, fv.workdir, hooks, preset=preset, strategy=strategy)
            progress.close()
        except Exception as e:   # noqa: BLE001  (one line for the errors a user can fix)
            return failures.error_status(e, names, progress)   # raises the others again
        interrupted = failures.interrupted_status(result)
        if interrupted is not None:
            return interrupted
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

