"""Held-out N-way K-shot accuracy of a run: per-episode accuracies, mean and 95% interval.

Every episode is drawn from the meta-test classes by an
:class:`tfmeta.data.EpisodeSampler`, deterministically in ``(seed, episode)``;
the classifier adapts on the support set with ``steps`` inner steps from its
meta-learned initialization and is scored on the query set. Batch norm
(``transductive``): a gradient-based learner normalizes by the statistics of
the query set, as in training (transductive, as MAML), or with
``transductive=False`` each query by those of the support set and that query
alone (the Reptile paper's non-transductive setting); a metric learner by its
moving averages, or with ``transductive=True`` by the statistics of the
episode's support and query images together (as it trains, and as the
Relation reference code tests). The interval is the normal one,
``1.96 * std / sqrt(episodes)``, as the papers report.

Example:
    >>> accuracies = episode_accuracies(setup, splits.test, episodes=600, inner_steps=3)
    >>> summary(accuracies)
    {'accuracy': 0.962, 'ci95': 0.0061, 'episodes': 600}

:func:`scoring_overrides` scores stored runs another way without retraining (a
baseline run with another `baseline_head`): pass it to ``load_run``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

from tfmeta import checks
from tfmeta.classify import accuracy
from tfmeta.data import ClassDataset, EpisodeSampler
from tfmeta.experiments.few_shot import learners
from tfmeta.experiments.few_shot.adaptation import adapt, classify
from tfmeta.experiments.few_shot.fields.baseline import check_head
from tfmeta.experiments.few_shot.registry import FewShotSetup
from tfmeta.metric.episodes import check_batch_statistics

CURVE_SEED = 1_000_003     # the training curve's episodes: apart from the evaluation's `seed`


def episode_accuracies(setup: FewShotSetup, dataset: ClassDataset, *, episodes: int,
                       inner_steps: int | None = None, seed: int = 0, ways: int | None = None,
                       shots: int | None = None, queries: int | None = None,
                       transductive: bool | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       steps: int | None = None) -> np.ndarray:
    """Query accuracy of each of ``episodes`` held-out episodes after ``inner_steps`` inner steps.

    ``ways``/``shots``/``queries`` default to the run's (a metric learner
    scores any number of ways; ``inner_steps`` does not apply to it; ``steps``
    is its deprecated name). ``transductive``:
    see the module (None: the training curve's way, True for gradient-based
    learners and False for metric learners). ``progress(done, total)`` is
    called every 50 episodes and at the end.
    """
    steps = checks.renamed_keyword("episode_accuracies", "inner_steps", inner_steps, "steps", steps)
    config = setup.config
    spec = learners.get(config.algorithm)
    transductive = spec.inner_loop if transductive is None else bool(transductive)
    if transductive and not spec.inner_loop and spec.transductive_logits is None:
        raise ValueError(f"{config.algorithm!r} has no transductive scoring")
    ways = config.ways if ways is None else ways
    if ways != config.ways and not spec.any_ways:
        raise ValueError(f"the run's classifier has {config.ways} outputs; it cannot score "
                         f"{ways}-way episodes")
    if shots not in (None, config.shots) and spec.fixed_shots:
        raise ValueError(f"{config.algorithm!r} sums the {config.shots}-shot support maps of "
                         f"a class, so its {config.shots}-shot module cannot score {shots}-shot "
                         "episodes (5-shot episodes of a 1-shot run scored 54% on Omniglot); "
                         "train a run at the shots to score")
    score = _scorer(setup, dataset, ways, config.shots if shots is None else shots,
                    config.queries if queries is None else queries, steps, seed, transductive)
    out = np.empty([episodes], np.float64)
    for i in range(episodes):
        out[i] = float(score(tf.constant(i, tf.int64)))
        if progress is not None and ((i + 1) % 50 == 0 or i + 1 == episodes):
            progress(i + 1, episodes)
    return out


_SCORERS: list[tuple[tuple, Any, Any, Callable]] = []   # (key, setup, dataset, score)
_MAX_SCORERS = 4


def _scorer(setup: FewShotSetup, dataset: ClassDataset, ways: int, shots: int, queries: int,
            steps: int, seed: int, transductive: bool) -> Callable:
    """The compiled ``score(index)`` of one (run, dataset, episode shape, steps, seed).

    Traced once and kept (the last few), so that the training curve and
    repeated evaluations do not pay the tracing again.
    """
    key = (ways, shots, queries, steps, seed, transductive)
    for k, s, d, score in _SCORERS:
        if k == key and s is setup and d is dataset:
            return score
    sampler = EpisodeSampler(dataset, ways=ways, shots=shots, queries=queries, seed=seed)
    spec = learners.get(setup.config.algorithm)
    if transductive and not spec.inner_loop and setup.nets is not None:
        check_batch_statistics(setup.nets.embedding, setup.nets.head)

    @tf.function(reduce_retracing=True)
    def score(index):
        episode = sampler(index)
        if transductive and not spec.inner_loop:
            probabilities = tf.nn.softmax(spec.transductive_logits(
                setup, episode.support_images, episode.support_labels, episode.query_images,
                ways), axis=-1)
            return accuracy(probabilities, episode.query_labels)
        params = adapt(setup, episode.support_images, episode.support_labels, inner_steps=steps,
                       seed=episode.seed, ways=ways)
        if transductive:
            probabilities = classify(setup, params, episode.query_images)
        else:
            probabilities = tf.map_fn(
                lambda query: classify(setup, params, tf.concat(
                    [episode.support_images, query[None]], axis=0))[-1],
                episode.query_images)
        return accuracy(probabilities, episode.query_labels)

    _SCORERS.insert(0, (key, setup, dataset, score))
    del _SCORERS[_MAX_SCORERS:]
    return score


def summary(accuracies: np.ndarray) -> dict:
    """``{"accuracy": mean, "ci95": 1.96 std / sqrt(n), "episodes": n}``."""
    accuracies = np.asarray(accuracies, np.float64)
    n = int(accuracies.size)
    if n == 0:
        raise ValueError("no episodes to summarize")
    std = float(np.std(accuracies, ddof=1)) if n > 1 else 0.0
    return {"accuracy": float(np.mean(accuracies)), "ci95": 1.96 * std / np.sqrt(n),
            "episodes": n}


def scoring_overrides(runs: list[str], configs: list, baseline_head: str | None = None,
                      finetune_steps: int | None = None,
                      finetune_lr: float | None = None) -> dict:
    """Overrides for ``load_run`` of every run in ``runs`` (their ``configs``): a baseline run
    scored with ``baseline_head`` and the fine-tuning head's ``finetune_steps`` and
    ``finetune_lr`` (None: its own); refused in one line naming each run of another
    algorithm, which has no such head, or a value out of range."""
    given = {name: value for name, value in (("baseline_head", baseline_head),
                                             ("finetune_steps", finetune_steps),
                                             ("finetune_lr", finetune_lr)) if value is not None}
    if not given:
        return {}
    others = [f"{run} is {config.algorithm}" for run, config in zip(runs, configs)
              if config.algorithm != "baseline"]
    if others:
        names = ", ".join(f"`{name}`" for name in given)
        raise ValueError(f"{names} {'applies' if len(given) == 1 else 'apply'} to baseline runs "
                         f"only; {', '.join(others)}")
    check_head(**given)
    return given
