"""The registry of few-shot learners: what an ``algorithm`` name builds, and how it is used.

A :class:`LearnerSpec` says everything the experiment needs to know about one
algorithm: its family, which option blocks of the config apply to it, how it
builds its :class:`FewShotSetup` (nets, objective, inner optimizer, learner,
checkpoint), how its training episodes are drawn, how it adapts to a support
set and scores queries, and how it is served. :func:`register` adds one;
:func:`get` finds one by name. The built-in learners register themselves in the
modules of :mod:`tfmeta.experiments.few_shot.learners`.

Example:
    >>> spec = get("protonet")
    >>> spec.family, spec.inner_loop
    ('metric', False)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import keras
import tensorflow as tf

from tfmeta import checks
from tfmeta.algorithms import MetaLearner
from tfmeta.metric import BaselineLearner, MetricLearner, MetricNets

FAMILIES = ("gradient", "metric")
# A FewShotConfig (tfmeta.experiments.few_shot.config, which imports this registry for the
# `algorithm` choices): the builders read its fields.
Config = Any


class FewShotSetup(NamedTuple):
    """Everything a run is made of."""
    config: Config
    model: keras.Model         # Conv-4 (gradient-based) or its embedding (metric learners)
    objective: Callable | None  # the inner loop's objective (None: metric learners)
    inner: Any                 # the InnerOptimizer of adaptation (None: metric learners)
    learner: MetaLearner | MetricLearner | BaselineLearner
    checkpoint: tf.train.Checkpoint
    nets: MetricNets | None = None   # metric learners: embedding and head
    generator: keras.Model | None = None   # MeGAN: the conditional generator
    modulation: Any = None     # HSML: the TaskModulation of the initialization


def meta_batches(config: Config, sampler) -> Callable:
    """The default training episodes: ``sampler.meta_batch`` (support in, queries scored)."""
    del config
    return sampler.meta_batch


@dataclasses.dataclass(frozen=True)
class LearnerSpec:
    """One few-shot algorithm: how it is configured, built, trained, evaluated and served.

    Attributes:
      name: the value of the config field `algorithm`.
      family: ``"gradient"`` (an inner loop on the weights) or ``"metric"``
        (a learned comparison, no inner loop).
      help: one sentence for `algorithm`'s help text.
      build: ``(config, image_shape, *, dtype, activation) -> FewShotSetup``.
      adapt: ``(setup, images, labels, *, inner_steps, params, seed, ways)`` -> the
        adapted state (parameters, or a metric learner's support state).
      logits: ``(setup, state, images) -> [Q, N]`` class logits.
      serving: ``(setup, inner_steps) -> dict`` of the serving module's parts
        (``adapt_fn``, ``logits_fn``, ``variables``, maybe ``state_shapes``).
      serving_metadata: ``setup -> dict``, what an export records about it.
      blocks: the option blocks of the config (field dataclasses of
        :mod:`tfmeta.experiments.few_shot.fields`) that apply to it; the
        shared fields always do.
      without: fields of those blocks that do not apply to it.
      episodes: ``(config, sampler) -> (step -> Task)``, its training
        meta-batches from an :class:`tfmeta.data.EpisodeSampler`.
      check: ``config -> None``, its own checks beyond its blocks' (raises
        ValueError).
      any_ways: it can score episodes of other ways than it trained on.
      refuse_inner_steps: ``(config, inner_steps) -> str | None``: why
        ``inner_steps`` cannot serve it (None: they can).
      samples: ``(setup, dataset, *, seed) -> uint8 image`` written at every
        curve point (MeGAN's generated images), or None.
      transductive_logits: ``(setup, support_images, support_labels, images,
        ways) -> [Q, N]``: the queries scored with the batch statistics of the
        episode, for a learner whose ``adapt``/``logits`` use moving averages
        (None: its ``logits`` already normalize by the queries' batch).
      fixed_shots: its support summary grows with the shots (Relation sums the
        K feature maps of a class), so it scores only the shots it trained with.
      backbones: the values of the config field `backbone` its build takes.
      classes: its build also takes ``classes``, the number of meta-train
        classes (the pre-trained baseline's classifier covers them all).
    """
    name: str
    family: str
    help: str
    build: Callable[..., FewShotSetup]
    adapt: Callable
    logits: Callable
    serving: Callable[[FewShotSetup, int], dict]
    serving_metadata: Callable[[FewShotSetup], dict]
    blocks: tuple = ()
    without: tuple[str, ...] = ()
    episodes: Callable = meta_batches
    check: Callable[[Config], None] | None = None
    any_ways: bool = False
    refuse_inner_steps: Callable[[Config, int], str | None] | None = None
    samples: Callable | None = None
    transductive_logits: Callable | None = None
    fixed_shots: bool = False
    backbones: tuple[str, ...] = ("conv4",)
    classes: bool = False

    def __post_init__(self):
        checks.one_of("family", self.family, FAMILIES)
        unknown = sorted(set(self.without) - self._block_fields())
        if unknown:
            raise ValueError(f"learner {self.name!r}: `without` names fields of none of its "
                             f"blocks: {unknown}")

    def _block_fields(self) -> set[str]:
        return {f.name for block in self.blocks for f in dataclasses.fields(block)}

    @property
    def fields(self) -> frozenset[str]:
        """The option fields that apply to it (besides the shared ones)."""
        return frozenset(self._block_fields() - set(self.without))

    @property
    def inner_loop(self) -> bool:
        """Whether it adapts by inner steps (the inner-step fields mean something to it)."""
        return self.family == "gradient"


_REGISTRY: dict[str, LearnerSpec] = {}


def register(spec: LearnerSpec, *, replace: bool = False) -> LearnerSpec:
    """Adds ``spec`` under its name (ValueError if the name is taken, unless ``replace``)."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"a few-shot learner named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Removes a learner (for tests that register their own)."""
    _REGISTRY.pop(name)


def get(name: str) -> LearnerSpec:
    """The learner registered as ``name`` (ValueError naming the choices otherwise)."""
    checks.one_of("algorithm", name, tuple(_REGISTRY))
    return _REGISTRY[name]


def names(family: str | None = None) -> tuple[str, ...]:
    """The registered names (of one family), in the order they were registered."""
    return tuple(n for n, s in _REGISTRY.items() if family is None or s.family == family)


def takers(field: str) -> tuple[str, ...]:
    """The learners a field applies to."""
    return tuple(n for n, s in _REGISTRY.items() if field in s.fields)


def refuse_unused(config: Config, given: list[str], notes: dict[str, str] | None = None) -> None:
    """Raises one line if fields in ``given`` (set away from off) do not apply to the learner.

    The message groups the fields by the learners they apply to, e.g.
    "`fakes_from`=0, `noise_dim`=8 apply to `algorithm`=megan, not 'reptile'";
    ``notes`` adds a parenthesis for a refused field.
    """
    spec = get(config.algorithm)
    unused = [name for name in given if name not in spec.fields]
    if not unused:
        return
    groups: dict[tuple, list[str]] = {}
    for name in unused:
        groups.setdefault(takers(name), []).append(f"`{name}`={getattr(config, name)}")
    parts = [f"{', '.join(shown)} {'applies' if len(shown) == 1 else 'apply'} to "
             f"`algorithm`={', '.join(who) if who else '(none registered)'}"
             for who, shown in groups.items()]
    extra = "".join(f" ({notes[n]})" for n in unused if notes and n in notes)
    raise ValueError(f"{'; '.join(parts)}, not {config.algorithm!r}{extra}")
