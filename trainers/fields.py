"""A trainer's flags, generated from its config's fields: definition, parsing, ``--help``.

One flag per field of the config dataclass, made from the field's declaration
(:func:`tfmeta.experiments.settings.setting`: name, type, default, help,
choices), plus the shell's own ``--workdir``, ``--preset``, ``--verbose`` and,
where the experiment can split its meta-batch, ``--distribute`` and
``--cpu_devices``.
"""

from __future__ import annotations

import dataclasses
import textwrap
import typing
from typing import Any, Mapping

from absl import flags

from trainers import common
from trainers.common import to_flags


def field_kinds(config_class) -> dict[str, type]:
    """Field name -> the flag's kind: bool, int, float, str or tuple (a comma list).

    ``X | None`` is X (default None); a tuple annotation or a tuple default is tuple.
    """
    hints = typing.get_type_hints(config_class)
    kinds = {}
    for field in dataclasses.fields(config_class):
        hint = hints.get(field.name, type(field.default))
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if args and typing.get_origin(hint) is not tuple:   # X | None
            hint = args[0]
        if hint is tuple or typing.get_origin(hint) is tuple or isinstance(field.default, tuple):
            hint = tuple
        kinds[field.name] = hint
    return kinds


def tuple_item(config_class, name: str) -> type:
    """The item type of tuple field ``name``: float if annotated ``tuple[float, ...]``, else int."""
    args = typing.get_args(typing.get_type_hints(config_class).get(name))
    return float if args and args[0] is float else int


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def field_help(config_class, name: str, presets: Mapping[str, Any], names) -> str:
    """A field's help text for ``--help``: flags for backticked fields, the presets' values."""
    from tfmeta.experiments import settings
    text = to_flags(settings.help_of(config_class, name), names)
    shown = []
    for preset_name, preset in presets.items():
        if values := [_shown(value) + (f" if {when}" if when else "")
                      for value, when in preset.shown_values(name)]:
            shown.append(f"--preset={preset_name}: {', '.join(values)}")
    return text + (f" ({'; '.join(shown)})" if shown else "")


def define_field_flags(fv: flags.FlagValues, config_class, presets: Mapping[str, Any] = {},
                       names=None) -> list[str]:
    """Defines a flag on ``fv`` for every field of ``config_class``; returns their names.

    Type from the annotation, default from the field, enum values from its
    ``choices``, help from its help text (``names``: the other flags its
    backticked names may refer to).
    """
    from tfmeta.experiments import settings
    kinds = field_kinds(config_class)
    names = set(names or ()) | set(kinds)
    definers = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
                float: flags.DEFINE_float, str: flags.DEFINE_string}
    for field in dataclasses.fields(config_class):
        kind, default = kinds[field.name], field.default
        help_text = field_help(config_class, field.name, presets, names)
        choices = settings.choices_of(config_class, field.name)
        if choices is not None:
            flags.DEFINE_enum(field.name, default, [str(c) for c in choices], help_text,
                              flag_values=fv)
        elif kind is tuple:
            flags.DEFINE_list(field.name, None if default is None else
                              [str(v) for v in default], help_text, flag_values=fv)
        elif kind in definers:
            definers[kind](field.name, default, help_text, flag_values=fv)
        else:
            raise TypeError(f"{config_class.__name__}.{field.name}: no flag type for {kind!r}")
    return list(kinds)


def define_flags(trainer) -> flags.FlagValues:
    """A :class:`trainers.shell.Trainer`'s own FlagValues: its fields' flags and the shell's."""
    fv = flags.FlagValues()
    shell_names = {"workdir", "preset", "verbose"} | (
        {"distribute", "cpu_devices"} if trainer.distribute else set())
    field_names = set(define_field_flags(fv, trainer.config, trainer.presets, shell_names))
    flags.DEFINE_string("workdir", trainer.workdir, f"Run directory: {trainer.workdir_help}. "
                        "An existing run there is resumed with its stored settings."
                        + (" (required)" if trainer.workdir is None else ""), flag_values=fv)
    if trainer.presets:
        names = list(trainer.presets) + (["auto"] if trainer.auto else [])
        lines = "; ".join(f"{p.name}: {to_flags(p.help, field_names)}"
                          for p in trainer.presets.values())
        auto = (f"; auto: {trainer.auto[0]} when TensorFlow sees a GPU, else {trainer.auto[1]}"
                if trainer.auto else "")
        flags.DEFINE_enum("preset", trainer.default_preset, names, "Settings every flag not "
                          f"given takes ({lines}{auto}). A resumed run keeps its stored "
                          "settings unless --preset is given.", flag_values=fv)
    common.define_verbose_flag(fv)
    if trainer.distribute:
        common.define_distribute_flags(fv)
    return fv


def parse(fv: flags.FlagValues, argv) -> None:
    """Parses ``argv`` (without the program name) into ``fv``.

    Raises ValueError with one line for an unknown flag, a bad value, an
    extra argument or a missing ``--workdir``.
    """
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


def given_values(config_class, fv: flags.FlagValues) -> dict[str, Any]:
    """The config fields set on the command line, as the config wants them.

    Comma lists become tuples of ints (of floats for a ``tuple[float, ...]`` field); an unset
    ``data_dir`` field is the default data directory (:func:`trainers.common.default_data_dir`).
    """
    kinds = field_kinds(config_class)
    given = {}
    for name, kind in kinds.items():
        if name not in fv or not fv[name].present:
            continue
        value = fv[name].value
        if kind is tuple and value is not None:
            item = tuple_item(config_class, name)
            try:
                value = tuple(item(v) for v in value)
            except ValueError:
                what = "numbers" if item is float else "integers"
                raise ValueError(f"`{name}` must be {what} separated by commas, got "
                                 f"{','.join(value)!r}") from None
        given[name] = value
    if "data_dir" in kinds and given.get("data_dir") is None:
        given["data_dir"] = common.default_data_dir()
    return given


def help_text(doc: str, fv: flags.FlagValues) -> str:
    """A trainer's docstring and every flag with its help, default and type."""
    lines = [doc.strip(), "", "flags:"]
    for name in sorted(fv):
        flag = fv[name]
        if flag.name != name:   # a short name
            continue
        text = f"--{name}: {flag.help} (default: {flag.default_as_str}; {flag.flag_type()})"
        lines += textwrap.wrap(text, 98, initial_indent="  ", subsequent_indent="      ")
    return "\n".join(lines)
