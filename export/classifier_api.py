"""Exports of few-shot classification runs: both families behind one ``adapt_and_classify``.

* :func:`classifier_module`: a run's :class:`tfmeta.savedmodel.classifier.ClassifierModule`
  from its learner's ``serving`` parts (:mod:`tfmeta.experiments.few_shot.learners`)
  -- for a gradient-based run (MAML and kin) the adapt function is
  ``few_shot.adapt`` (inner steps on the weights; MeGAN's generator adapts
  beside the classifier and augments the support set in the graph, its noise
  drawn from the request seed, and the state is the adapted N+1 classifier,
  scored on its N class columns), for a metric learner it embeds the support
  set into its state (prototypes, support embeddings or class feature maps);
  ``few_shot.logits`` scores the queries either way;
* :func:`export_classifier`: writes it as a new version of ``BASE/NAME``.

The shared export plumbing (model names, versions, metadata, refusing an
untrained run) is :mod:`export.api`'s.

Example:
    >>> export_classifier("runs/omniglot_5w1s", "exports", "omniglot")
    'exports/omniglot/1'
"""

from __future__ import annotations

import os

from export.api import _overrides, _refuse_untrained, model_dir, save_module
from export.versions import write_new_version
from tfmeta.experiments import few_shot
from tfmeta.savedmodel.classifier import ClassifierModule


def classifier_module(setup: few_shot.FewShotSetup, *, adapt_steps: int | None = None,
                      max_support: int = 256, max_query: int = 1024,
                      max_ways: int | None = None) -> ClassifierModule:
    """A few-shot run's serving module: ``few_shot.adapt`` and ``few_shot.logits`` in the graph.

    ``adapt_steps``: gradient-based runs only (default: the run's
    ``eval_inner_steps``, what its held-out accuracy is measured with; MeGAN:
    more than its ``fakes_from``). ``max_ways``: metric learners only, the
    largest N of a request (default: ``max_support``); a gradient-based run
    answers its own ``ways`` only (its head).
    """
    config = setup.config
    spec = few_shot.learners.get(config.algorithm)
    if spec.family != "metric" and max_ways not in (None, config.ways):
        raise ValueError(f"--max_ways applies to metric learners, which have no fixed head; "
                         f"a {config.algorithm} run answers {config.ways}-way requests only "
                         f"(its head has {config.ways} classes), got --max_ways={max_ways}")
    if not spec.inner_loop and adapt_steps is not None:
        raise ValueError(f"--adapt_steps applies to gradient-based runs; a {config.algorithm} "
                         f"run adapts by embedding the support set (no steps), got "
                         f"--adapt_steps={adapt_steps}")
    steps = 0 if not spec.inner_loop else (config.eval_inner_steps if adapt_steps is None
                                           else adapt_steps)
    refusal = (spec.refuse_inner_steps(config, steps) if spec.refuse_inner_steps is not None
               else None)
    if refusal is not None:
        raise ValueError(f"--adapt_steps={steps} {refusal}")
    return ClassifierModule(**spec.serving(setup, steps), ways=config.ways,
                            image_shape=[int(s) for s in setup.model.inputs[0].shape[1:]],
                            family=spec.family, adapt_steps=steps, max_support=max_support,
                            max_query=max_query, max_ways=max_ways,
                            shots=config.shots if spec.fixed_shots else None)


def export_classifier(workdir: str, export_dir: str, name: str, *,
                      adapt_steps: int | None = None, max_support: int = 256,
                      max_query: int = 1024, max_ways: int | None = None,
                      data_dir: str | None = None, download: bool | None = None,
                      allow_untrained: bool = False, baseline_head: str | None = None,
                      finetune_steps: int | None = None, finetune_lr: float | None = None) -> str:
    """Writes a few-shot run's classifier with in-graph adaptation as a new version.

    Both families (gradient-based and metric learners) get the same signatures
    (:mod:`tfmeta.savedmodel.classifier`); the metadata's ``family`` tells them apart.

    Args:
      workdir: a few-shot classification run (``trainers.few_shot``).
      export_dir, name: the version goes to ``export_dir/name/<next>``.
      adapt_steps: inner steps of the served adaptation (default: the run's
        ``eval_inner_steps``; gradient-based runs only).
      max_support, max_query: largest support set / query batch of a request.
      max_ways: a metric learner's largest N of a request (default:
        ``max_support``; the metadata's ``max_ways``); refused for a
        gradient-based run, whose head fixes N to its ``ways``.
      data_dir, download: override the run's dataset location (read for the
        image shape).
      allow_untrained: export a run at step 0 too.
      baseline_head, finetune_steps, finetune_lr: a baseline run served with this head and
        fine-tuning instead of its own (refused for other algorithms).

    Returns:
      The version directory.
    """
    target = model_dir(export_dir, name)
    head = few_shot.scoring_overrides([workdir], [few_shot.read_config(workdir)], baseline_head,
                                      finetune_steps, finetune_lr)
    setup, _ = few_shot.load_run(workdir, **_overrides(data_dir, download), **head)
    _refuse_untrained(setup, workdir, allow_untrained)
    module = classifier_module(setup, adapt_steps=adapt_steps, max_support=max_support,
                               max_query=max_query, max_ways=max_ways)
    config = setup.config
    family = few_shot.learners.get(config.algorithm).serving_metadata(setup)
    metadata = dict(module.metadata(), kind="classifier", run=os.path.abspath(workdir),
                    step=int(setup.checkpoint.step.numpy()), algorithm=config.algorithm,
                    dataset=config.dataset, trained_shots=config.shots, **family,
                    images="float32 in [-1, 1] (values within image_tolerance of it clipped), "
                           "the run's preprocessing (Omniglot: bright strokes on a dark "
                           "background)")
    return write_new_version(target, lambda path: save_module(module, path, metadata))
