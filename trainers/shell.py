"""The one command-line shell of every trainer: flags from config fields, settings, run, report.

A trainer declares its experiment as a :class:`Trainer` (config class,
presets, how to run it, its banner line and its closing lines); the shell
does the rest, the same way for all of them:

* one flag per config field, generated from the field's declaration
  (:func:`tfmeta.experiments.settings.setting`: name, type, default, help,
  choices), plus ``--workdir``, ``--preset``, ``--verbose`` and, where the
  experiment can split its meta-batch, ``--distribute`` and ``--cpu_devices``;
* one settings resolution (flags given > the stored run > the preset);
* one banner, one progress bar with its time estimate, one Ctrl-C path
  (checkpoint after the running update, exit 130), one closing line;
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
import time
import typing
from typing import Any, Callable, Mapping, Sequence

from absl import flags

from trainers import common
from trainers.common import native_logs_filtered, quiet_start, to_flags  # noqa: F401

INTERRUPTED_EXIT = common.INTERRUPTED_EXIT


# --- Flags from fields -----------------------------------------------------------------------

def _field_type(config_class, field: dataclasses.Field):
    hints = typing.get_type_hints(config_class)
    hint = hints.get(field.name, type(field.default))
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args and typing.get_origin(hint) is not tuple:   # X | None
        hint = args[0]
    if hint is tuple or typing.get_origin(hint) is tuple or isinstance(field.default, tuple):
        return tuple
    return hint


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def field_help(config_class, field: dataclasses.Field, presets: Mapping[str, Any],
               names) -> str:
    """A field's help text for ``--helpfull``: flags for fields, the presets' values."""
    from tfmeta.experiments import settings
    text = to_flags(settings.help_of(config_class, field.name), names)
    shown = []
    for name, preset in presets.items():
        values = sorted({_shown(v) for v in preset.values_of(field.name)})
        if values:
            shown.append(f"--preset={name}: {'/'.join(values)}")
    return text + (f" ({'; '.join(shown)})" if shown else "")


def define_field_flags(fv: flags.FlagValues, config_class, presets: Mapping[str, Any] = {},
                       skip: Sequence[str] = (), names=None) -> list[str]:
    """Defines a flag on ``fv`` for every field of ``config_class`` but ``skip``.

    Type from the annotation (``X | None`` is X with default None; a tuple is
    a comma-separated list), default from the field, enum values from its
    ``choices``, help from its help text. Returns the names defined.
    """
    from tfmeta.experiments import settings
    names = set(names or ()) | {f.name for f in dataclasses.fields(config_class)}
    defined = []
    for field in dataclasses.fields(config_class):
        if field.name in skip:
            continue
        kind = _field_type(config_class, field)
        help_text = field_help(config_class, field, presets, names)
        choices = settings.choices_of(config_class, field.name)
        default = field.default
        if choices is not None:
            flags.DEFINE_enum(field.name, default, [str(c) for c in choices], help_text,
                              flag_values=fv)
        elif kind is bool:
            flags.DEFINE_bool(field.name, default, help_text, flag_values=fv)
        elif kind is int:
            flags.DEFINE_integer(field.name, default, help_text, flag_values=fv)
        elif kind is float:
            flags.DEFINE_float(field.name, default, help_text, flag_values=fv)
        elif kind is tuple:
            flags.DEFINE_list(field.name, None if default is None else
                              [str(v) for v in default], help_text, flag_values=fv)
        elif kind is str:
            flags.DEFINE_string(field.name, default, help_text, flag_values=fv)
        else:
            raise TypeError(f"{config_class.__name__}.{field.name}: no flag type for {kind!r}")
        defined.append(field.name)
    return defined


def _given_value(config_class, name: str, value):
    """A flag's value as the config field wants it (lists of numbers become tuples)."""
    field = {f.name: f for f in dataclasses.fields(config_class)}[name]
    if _field_type(config_class, field) is not tuple or value is None:
        return value
    try:
        return tuple(int(v) for v in value)
    except ValueError:
        raise ValueError(f"`{name}` must be integers separated by commas, got "
                         f"{','.join(value)!r}") from None


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
      fixed: flags given by the trainer, not by fields (name -> value) -- none yet.
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
    skip_fields: Sequence[str] = ()
    _flags: flags.FlagValues | None = dataclasses.field(default=None, repr=False)

    # -- flags --

    @property
    def flags(self) -> flags.FlagValues:
        """This trainer's flags (defined on first use)."""
        if self._flags is None:
            self._flags = self._define()
        return self._flags

    def _define(self) -> flags.FlagValues:
        fv = flags.FlagValues()
        shell_names = {"workdir", "preset", "verbose"} | (
            {"distribute", "cpu_devices"} if self.distribute else set())
        field_names = set(define_field_flags(fv, self.config, self.presets, self.skip_fields,
                                             shell_names))
        clash = field_names & shell_names
        if clash:
            raise ValueError(f"{self.config.__name__} fields {sorted(clash)} clash with the "
                             "shell's own flags")
        flags.DEFINE_string("workdir", self.workdir, f"Run directory: {self.workdir_help}. "
                            "An existing run there is resumed with its stored settings."
                            + (" (required)" if self.workdir is None else ""), flag_values=fv)
        if self.presets:
            names = list(self.presets) + (["auto"] if self.auto else [])
            default = self.default_preset
            lines = "; ".join(f"{p.name}: {to_flags(p.help, field_names)}"
                              for p in self.presets.values())
            auto = (f"; auto: {self.auto[0]} when TensorFlow sees a GPU, else {self.auto[1]}"
                    if self.auto else "")
            flags.DEFINE_enum("preset", default, names, "Settings every flag not given takes "
                              f"({lines}{auto}). A resumed run keeps its stored settings "
                              "unless --preset is given.", flag_values=fv)
        common.define_verbose_flag(fv)
        if self.distribute:
            common.define_distribute_flags(fv)
        return fv

    def unit_of(self, config) -> str:
        return self.unit(config) if callable(self.unit) else self.unit

    def flag_names(self) -> set[str]:
        return set(self.flags)

    def parse(self, argv: Sequence[str]) -> None:
        """Parses ``argv`` (without the program name) into :attr:`flags`.

        Raises ValueError with one line for an unknown flag, a bad value, an
        extra argument or a missing ``--workdir``.
        """
        fv = self.flags
        fv.unparse_flags()
        try:
            rest = fv(["prog", *argv])
        except flags.Error as e:
            raise ValueError(str(e).splitlines()[0]) from None
        if len(rest) > 1:
            raise ValueError(f"unexpected arguments {rest[1:]}; every setting is a --flag")
        if fv.workdir is None:
            raise ValueError("--workdir is required: the run directory (a new one, or one "
                             "holding a run to resume)")

    def given(self) -> dict[str, Any]:
        """The config fields set on the command line, as the config wants them."""
        fv = self.flags
        names = [f.name for f in dataclasses.fields(self.config)
                 if f.name in fv and fv[f.name].present]
        given = {n: _given_value(self.config, n, fv[n].value) for n in names}
        if "data_dir" in {f.name for f in dataclasses.fields(self.config)}:
            if given.get("data_dir") is None:
                given["data_dir"] = common.default_data_dir()
        return given

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
            progress = Progress(self, config, fv.workdir, gpu, preset)
            with common.StopOnSignal(on_signal=lambda: common.say(
                    f"stopping after the running {self.unit_of(config)}; Ctrl-C again quits at once "
                    "(the last checkpoint is kept)")) as stop:
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
        import textwrap
        lines = [self.doc.strip(), "", "flags:"]
        fv = self.flags
        for name in sorted(fv):
            flag = fv[name]
            if flag.name != name:   # a short name
                continue
            kind = flag.flag_type()
            default = flag.default_as_str
            text = f"--{name}: {flag.help} (default: {default}; {kind})"
            lines += textwrap.wrap(text, 98, initial_indent="  ", subsequent_indent="      ")
        return "\n".join(lines)

    def banner(self, config, preset: str | None, how: str, workdir: str) -> str:
        """What is about to run, its preset, and where (new or resumed)."""
        latest = self.latest_checkpoint(workdir) if self.latest_checkpoint else None
        state = "new run" if latest is None else f"resuming at step {latest[1]}"
        steps = getattr(config, "steps", None)
        if latest is not None:
            state += (f" of {steps}" if steps is not None else "") + (
                f" from {os.path.basename(latest[0])}")
        lines = [self.describe(config)]
        if self.presets:
            lines.append(f"preset: {preset or 'none'} ({how})")
        lines.append(f"workdir: {os.path.abspath(workdir)} ({state})")
        return "\n".join(lines)


def refuse_file_workdir(config, workdir: str) -> None:
    """``check_workdir`` of trainers without resume: the run directory must not be a file."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ValueError(f"`workdir`={workdir} is a file, not a directory")


def _get(result, name):
    """``result.name``, or ``result[name]`` for a plain results dict."""
    if hasattr(result, name):
        return getattr(result, name)
    return result.get(name) if isinstance(result, dict) else None


class Progress:
    """Phase lines, the bar ("compiling the meta-update" until the first update) and estimate."""

    def __init__(self, trainer: Trainer, config, workdir: str, gpu: bool,
                 preset: str | None):
        self.trainer, self.config, self.workdir = trainer, config, workdir
        self.gpu, self.preset = gpu, preset
        self.bar, self.times, self.started = None, [], time.perf_counter()
        self.shown: dict[str, str] = {}
        self.unit = trainer.unit_of(config)

    def event(self, name: str, step: int) -> None:
        t = self.trainer
        if name == "data":
            line = f"data loaded in {time.perf_counter() - self.started:.0f} s"
            extra = t.on_data(self.config, self.workdir, step) if t.on_data else ""
            common.say(line + (f"; {extra}" if extra else ""))
        elif name == "start":
            self.bar = common.progress_bar(self.config.steps, f"compiling the {self.unit}",
                                           initial=step)
            self._postfix()
            self.bar.refresh()
            self.times.append(time.perf_counter())
        elif name == "eval" and self.bar is not None:
            self.bar.set_description(self._label(), refresh=False)
        elif name == "scoring":
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            common.say("scoring held-out episodes...")

    def _label(self) -> str:
        return getattr(self.config, "algorithm", self.trainer.name)

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix(self.shown, refresh=False)

    def curve(self, points: list) -> None:
        if self.trainer.curve_postfix is not None:
            self.shown.update(self.trainer.curve_postfix(points[-1]))
        if self.bar is not None:
            self._postfix()
            self.bar.refresh()
        elif self.trainer.curve_line is not None:
            common.say(self.trainer.curve_line(points[-1]))

    def step(self, step: int, metrics: Mapping[str, Any]) -> None:
        t = self.trainer
        self.times.append(time.perf_counter())
        self.bar.set_description(self._label(), refresh=False)
        for label, key in t.postfix.items():
            if key in metrics:
                self.shown[label] = f"{float(metrics[key]):.3f}"
        self._postfix()
        self.bar.update(1)
        pause = t.pause(self.config, step) if t.pause else None
        if pause:
            self.bar.set_description(pause, refresh=False)
            self.bar.refresh()
        if len(self.times) <= 4:   # the first updates show at once, however fast
            self.bar.refresh()
        if len(self.times) == 4 and not self.gpu:
            per_update = (self.times[3] - self.times[1]) / 2
            left = self.config.steps - step
            if left > 0:
                hint = t.cpu_hint(self.config, self.preset, self.workdir) if t.cpu_hint else None
                common.say(f"no GPU visible: {per_update:.2f} s per {self.unit}; the {left} left "
                           f"take about {common.duration(per_update * left)}"
                           + (f". {hint}" if hint else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
