"""Settings of an experiment: documented config fields, presets as data, one resolution.

An experiment's config is a frozen dataclass. Each field is declared once,
with :func:`setting`: its default, its help text and, for a choice, the
allowed values. The command-line shell (``trainers/shell.py``) makes a flag of
every field from exactly that; a library user reads the same help with
:func:`help_of`. Help texts and error messages name other fields in backticks
(`` `ways` ``); the shell shows each one that is a flag as that flag.

A preset is data: a name, a line of help, field overrides, and rules that add
overrides when other fields have given values (a metric learner's own CPU
recipe, the published settings of one N-way K-shot setting) or refuse a
combination the preset has no settings for. :func:`resolve` turns what was
given, a stored run and a preset into one config, in one order for every
experiment: given > stored run > preset > the field's default.

Example:
    >>> @dataclasses.dataclass(frozen=True)
    ... class Config:
    ...     ways: int = setting(5, "N: classes per episode.")
    ...     steps: int = setting(100, "Meta-updates of the run.")
    >>> presets = {"long": Preset("long", "a long run", {"steps": 1000})}
    >>> resolve(Config, presets, given={"ways": 20}, preset="long").config
    Config(ways=20, steps=1000)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, NamedTuple, Sequence

PRESET_KEY = "preset"   # stored in config.json beside the fields: the preset a run started from


def setting(default: Any, help: str, *, choices: Sequence[Any] | None = None) -> Any:
    """A config field with its help text (and allowed values, for a choice).

    Args:
      default: the field's default (an immutable value: tuples, not lists).
      help: one or more sentences for the person choosing the value; name
        other fields in backticks.
      choices: the allowed values, when the field is a choice (the shell
        makes it an enum flag; the config still checks it).
    """
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    return dataclasses.field(default=default, metadata=metadata)


def data_dir_setting() -> Any:
    """The ``data_dir`` field every dataset-reading config declares (default None)."""
    return setting(None, "TFDS data directory. Default: $TFDS_DATA_DIR, else "
                   "../shared/tensorflow_datasets next to the project if present, else TFDS's "
                   "default (~/tensorflow_datasets).")


def download_setting() -> Any:
    """The ``download`` field: whether TFDS may download a missing dataset (default True)."""
    return setting(True, "Let TFDS download and prepare the dataset if it is not in "
                   "`data_dir` (`download`=false to fail instead, offline).")


def help_of(config_class, name: str) -> str:
    """The help text of field ``name`` of ``config_class`` (KeyError if it has none)."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    if name not in fields:
        raise KeyError(f"{config_class.__name__} has no field `{name}`")
    if "help" not in fields[name].metadata:
        raise KeyError(f"{config_class.__name__}.{name} has no help text; declare it with "
                       "tfmeta.experiments.settings.setting")
    return fields[name].metadata["help"]


def choices_of(config_class, name: str) -> tuple | None:
    """The allowed values of field ``name``, or None when it is not a choice."""
    for f in dataclasses.fields(config_class):
        if f.name == name:
            return f.metadata.get("choices")
    raise KeyError(f"{config_class.__name__} has no field `{name}`")


class OneOf(frozenset):
    """A rule condition: the field's value is one of these."""


class NoneOf(frozenset):
    """A rule condition: the field's value is none of these."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """Overrides a preset adds when fields have given values.

    ``when`` maps a field name, or a tuple of names, to a value (equality),
    a :class:`OneOf` or a :class:`NoneOf`; a tuple of names compares the tuple
    of their values. A rule with ``refuse`` raises ValueError with that
    message (formatted with the current values) instead of setting anything.
    """
    when: Mapping[Any, Any]
    set: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    refuse: str | None = None

    def matches(self, values: Mapping[str, Any]) -> bool:
        for key, want in self.when.items():
            have = tuple(values[k] for k in key) if isinstance(key, tuple) else values[key]
            if isinstance(want, OneOf):
                ok = have in want
            elif isinstance(want, NoneOf):
                ok = have not in want
            else:
                ok = have == want
            if not ok:
                return False
        return True

    def condition(self) -> str:
        """The rule's condition in words, for help texts: ``algorithm=metasgd or reptile``,
        ``outer_lr not 0.002``."""
        parts = []
        for key, want in self.when.items():
            name = "/".join(key) if isinstance(key, tuple) else key
            shown = [_words(v) for v in sorted(want, key=repr)] if isinstance(
                want, (OneOf, NoneOf)) else [_words(want)]
            relation = " not " if isinstance(want, NoneOf) else "="
            parts.append(f"{name}{relation}{' or '.join(shown)}")
        return " and ".join(parts)


def _words(value) -> str:
    return "/".join(map(str, value)) if isinstance(value, tuple) else str(value)


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named set of field overrides, plus rules applied in order after them."""
    name: str
    help: str
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    rules: tuple[Rule, ...] = ()

    def values_of(self, name: str) -> list:
        """Every value this preset may give field ``name`` (for help texts)."""
        return [value for value, _ in self.shown_values(name)]

    def shown_values(self, name: str) -> list[tuple[Any, str | None]]:
        """``(value, condition)`` pairs this preset gives field ``name``, in the order they
        apply (the override first, with condition None; then each rule's, a later one
        winning), for help texts."""
        found = [(self.overrides[name], None)] if name in self.overrides else []
        return found + [(r.set[name], r.condition()) for r in self.rules if name in r.set]


class Resolved(NamedTuple):
    """A resolved config, the preset it came from (None: none recorded) and how."""
    config: Any
    preset: str | None
    how: str


def defaults(config_class) -> dict[str, Any]:
    """The default value of every field of ``config_class``."""
    return {f.name: f.default for f in dataclasses.fields(config_class)}


def _from_json(config_class, stored: Mapping[str, Any]) -> dict[str, Any]:
    """``stored`` (a config.json) with lists turned back into the tuples of tuple fields."""
    tuples = {f.name for f in dataclasses.fields(config_class) if isinstance(f.default, tuple)}
    return {k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in stored.items()}


def resolve(config_class, presets: Mapping[str, Preset], *, given: Mapping[str, Any],
            stored: Mapping[str, Any] | None = None, preset: str | None = None,
            default_preset: str | None = None, auto: tuple[str, str] | None = None,
            gpu: bool = False) -> Resolved:
    """One config from the settings given, a stored run and a preset.

    Every field in ``given`` wins. The others take the stored run's values
    (``stored``: its config.json, None for a new run) unless ``preset`` is
    named, else those of ``preset`` (or ``default_preset``) over the fields'
    defaults. A preset's rules see the given values. With ``auto`` =
    ``(with_gpu, without)``, the preset ``"auto"`` (named or the default) is
    ``with_gpu`` when ``gpu`` else ``without``; naming it does not override a
    stored run.

    Raises:
      ValueError: an unknown preset or field, a stored setting this version
        does not know, a rule that refuses the combination, or what the
        config itself refuses.
    """
    names = [f.name for f in dataclasses.fields(config_class)]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(f"{config_class.__name__} has no settings {unknown}")
    how_auto = "auto: a GPU is visible" if gpu else "auto: no GPU visible"
    if auto is not None and preset == "auto":
        preset = None
        default_preset = "auto"
    if stored is not None and preset is None:
        recorded = stored.get(PRESET_KEY)
        stored = _from_json(config_class, {k: v for k, v in stored.items() if k != PRESET_KEY})
        unknown = sorted(set(stored) - set(names))
        if unknown:
            raise ValueError(f"the stored run has settings this version does not know: "
                             f"{unknown}")
        values = {**defaults(config_class), **stored, **given}
        how = "as stored with the run" if recorded else "the run's stored settings"
        return Resolved(config_class(**values), recorded, how)
    chosen = preset if preset is not None else default_preset
    how = "given" if preset is not None else "default"
    if auto is not None and chosen == "auto":
        chosen, how = (auto[0] if gpu else auto[1]), how_auto
    values = defaults(config_class)
    if chosen is not None:
        if chosen not in presets:
            raise ValueError(f"`preset`={chosen!r} is not one of {sorted(presets)}")
        spec = presets[chosen]
        values.update(spec.overrides)
        for rule in spec.rules:
            seen = dict(values, **given)
            if rule.matches(seen):
                if rule.refuse is not None:
                    raise ValueError(rule.refuse.format(**seen))
                values.update(rule.set)
    values.update(given)
    return Resolved(config_class(**values), chosen, how)
