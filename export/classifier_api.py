"""Exports of few-shot classification runs: both families behind one ``adapt_and_classify``.

* :func:`classifier_module`: a run's :class:`tfmeta.savedmodel.classifier.ClassifierModule`
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
from tfmeta.savedmodel.common import variable_names


def _classifier_parts(setup: few_shot.Setup, steps: int) -> dict:
    """The functions, variables and state shapes of a few-shot run for :class:`ClassifierModule`.

    Gradient-based: the state is the weights after ``steps`` inner steps, by
    name (MeGAN: the N+1 classifier's; its generator's weights are saved too, as
    ``generator_weights``, and adapt beside it in the graph). Metric:
    ``few_shot.adapt``'s support summary of one episode without its leading axis
    of 1 (shapes found by the module); the embedding's and head's variables
    (also the BatchNorm averages) are saved by name.
    """
    if setup.nets is None:
        model = setup.model
        names = variable_names(model.trainable_variables, model.name)

        def adapt_fn(images, labels, seed):
            return dict(zip(names, few_shot.adapt(setup, images, labels, steps=steps,
                                                  seed=seed)))

        def logits_fn(state, images):
            return few_shot.logits(setup, [state[n] for n in names], images)

        weights = model.trainable_variables
        inner = setup.inner if isinstance(setup.inner, dict) else {"model": setup.inner}
        variables = {"model_weights": dict(zip(names, weights)),
                     "inner_learning_rates": [v for p in sorted(inner)
                                              for v in inner[p].variables],
                     "non_trainable": list(model.non_trainable_variables)}
        if setup.modulation is not None:   # HSML tailors the start inside `adapt`
            variables["modulation"] = list(setup.modulation.variables)
        if setup.generator is not None:   # MeGAN: the generator adapts inside `adapt`
            generator = setup.generator.trainable_variables
            variables["generator_weights"] = dict(zip(
                variable_names(generator, setup.generator.name), generator))
        return dict(adapt_fn=adapt_fn, logits_fn=logits_fn,
                    state_shapes={n: list(v.shape) for n, v in zip(names, weights)},
                    variables=variables)

    def metric_adapt_fn(images, labels, seed):
        del seed   # nothing is drawn
        state = few_shot.adapt(setup, images, labels, steps=0, ways=setup.config.ways)
        return {n: t[0] for n, t in state.items()}

    def metric_logits_fn(state, images):
        return few_shot.logits(setup, {n: t[None] for n, t in state.items()}, images)

    nets = {"embedding": setup.nets.embedding, "head": setup.nets.head}
    return dict(adapt_fn=metric_adapt_fn, logits_fn=metric_logits_fn, variables={
        f"{kind}_variables": dict(zip(variable_names(net.variables, net.name), net.variables))
        for kind, net in nets.items() if net is not None})


def classifier_module(setup: few_shot.Setup, *, adapt_steps: int | None = None,
                      max_support: int = 256, max_query: int = 1024) -> ClassifierModule:
    """A few-shot run's serving module: ``few_shot.adapt`` and ``few_shot.logits`` in the graph.

    ``adapt_steps``: gradient-based runs only (default: the run's
    ``eval_inner_steps``, what its held-out accuracy is measured with; MeGAN:
    more than its ``fakes_from``).
    """
    config = setup.config
    if config.metric and adapt_steps is not None:
        raise ValueError(f"--adapt_steps applies to gradient-based runs; a {config.algorithm} "
                         f"run adapts by embedding the support set (no steps), got "
                         f"--adapt_steps={adapt_steps}")
    steps = 0 if config.metric else (config.eval_inner_steps if adapt_steps is None
                                     else adapt_steps)
    if config.megan and steps <= config.fakes_from:
        raise ValueError(f"--adapt_steps={steps} must exceed the MeGAN run's fakes_from="
                         f"{config.fakes_from} (the first inner step with generated images, "
                         f"0-based): with fewer steps the classifier, meta-trained with them, "
                         f"would never see one")
    return ClassifierModule(**_classifier_parts(setup, steps), ways=config.ways,
                            image_shape=[int(s) for s in setup.model.inputs[0].shape[1:]],
                            family="metric" if config.metric else "gradient",
                            adapt_steps=steps, max_support=max_support, max_query=max_query)


def export_classifier(workdir: str, export_dir: str, name: str, *,
                      adapt_steps: int | None = None, max_support: int = 256,
                      max_query: int = 1024, data_dir: str | None = None,
                      download: bool | None = None, allow_untrained: bool = False) -> str:
    """Writes a few-shot run's classifier with in-graph adaptation as a new version.

    Both families (gradient-based and metric learners) get the same signatures
    (:mod:`tfmeta.savedmodel.classifier`); the metadata's ``family`` tells them apart.

    Args:
      workdir: a few-shot classification run (``trainers.few_shot``).
      export_dir, name: the version goes to ``export_dir/name/<next>``.
      adapt_steps: inner steps of the served adaptation (default: the run's
        ``eval_inner_steps``; gradient-based runs only).
      max_support, max_query: largest support set / query batch of a request.
      data_dir, download: override the run's dataset location (read for the
        image shape).
      allow_untrained: export a run at step 0 too.

    Returns:
      The version directory.
    """
    target = model_dir(export_dir, name)
    setup, _ = few_shot.load_run(workdir, **_overrides(data_dir, download))
    _refuse_untrained(setup, workdir, allow_untrained)
    module = classifier_module(setup, adapt_steps=adapt_steps, max_support=max_support,
                               max_query=max_query)
    config = setup.config
    if setup.generator is not None:
        family = {"inner_optimizer": {p: o.name for p, o in sorted(setup.inner.items())},
                  "generator": {"conditioning": config.conditioning,
                                "fakes_from": config.fakes_from,
                                "real_weight": config.real_weight,
                                "fake_weight": config.fake_weight},
                  "classifier_outputs": config.ways + 1}
    elif setup.inner is not None:
        family = {"inner_optimizer": setup.inner.name}
    else:
        family = {"trained_ways": config.training_ways, "fce": config.fce}
    metadata = dict(module.metadata(), kind="classifier", run=os.path.abspath(workdir),
                    step=int(setup.checkpoint.step.numpy()), algorithm=config.algorithm,
                    dataset=config.dataset, trained_shots=config.shots, **family,
                    images="float32 in [-1, 1], the run's preprocessing (Omniglot: bright "
                           "strokes on a dark background)")
    return write_new_version(target, lambda path: save_module(module, path, metadata))
