"""Serving modules: what a SavedModel of tfmeta holds, its signatures and their in-graph checks.

* :mod:`.classifier`: :class:`~.classifier.ClassifierModule`, a few-shot
  classifier that adapts to a labelled support set inside the graph
  (``adapt_and_classify``, ``adapt``, ``classify``);
* :mod:`.state`: the classifier's state, its shapes with sizes named after the
  request (``S`` support images, ``N`` classes) and their checks;
* :mod:`.validation`: request checks that fail with one ``InvalidArgumentError``
  naming the argument;
* :mod:`.common`: export-time bounds, request seeds, variable names, and the
  metadata JSON written beside a SavedModel.

The modules know no experiment and no flag: the export CLI (``export/``) and
:meth:`tfmeta.keras.MAML.export` give them their adapt and logits functions.
"""
