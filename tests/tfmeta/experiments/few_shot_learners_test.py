"""The few-shot learner registry: it names every `algorithm`, the config's field blocks stay one
flat config, and a learner written in one file trains, scores and serves without touching the
experiment's code."""

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from tests.shared import ROOT
from tests.tfmeta.experiments.few_shot_test import FolderTestCase, config
from tfmeta import inner as inner_lib
from tfmeta.experiments import few_shot
from tfmeta.experiments.few_shot import fields, learners
from tfmeta.experiments.few_shot.config import BLOCKS
from tfmeta.experiments.few_shot.learners.gradient import build_gradient, gradient_learner
from tfmeta.experiments.settings import choices_of

# --- a toy learner, one file's worth: MAML whose inner steps are Adam's ----------------------


def _inner_adam(config, variables, items, dtype="float32"):
    del variables, items, dtype
    return inner_lib.adam(config.inner_lr)


def _build_inner_adam(config, image_shape, *, dtype="float32", activation="relu"):
    return build_gradient(config, image_shape, dtype=dtype, activation=activation,
                          algorithm="maml", inner=_inner_adam)


TOY = gradient_learner("toy_inner_adam", "MAML with inner Adam steps", _build_inner_adam,
                       without=("per_step_lr", "first_order_steps"))

# ----------------------------------------------------------------------------------------------


class RegistryTest(FolderTestCase):

    def test_registry_names_every_algorithm_choice_in_order_and_by_family(self):
        self.assertEqual(choices_of(few_shot.FewShotConfig, "algorithm"), learners.names())
        self.assertEqual(few_shot.ALGORITHMS, learners.names())
        self.assertEqual(few_shot.GRADIENT_ALGORITHMS + few_shot.METRIC_ALGORITHMS,
                         few_shot.ALGORITHMS)
        self.assertEqual(few_shot.GRADIENT_ALGORITHMS, ("maml", "fomaml", "metasgd", "meta_lstm",
                                                        "hsml", "reptile", "megan"))
        for name in few_shot.ALGORITHMS:
            spec = learners.get(name)
            self.assertEqual(spec.name, name)
            self.assertEqual(spec.inner_loop, name in few_shot.GRADIENT_ALGORITHMS)
            self.assertTrue(set(spec.blocks) <= set(fields.OPTION_BLOCKS), name)
        with self.assertRaisesRegex(ValueError, "`algorithm`=.nope. is not one of"):
            learners.get("nope")

    def test_field_blocks_make_one_flat_config_with_the_stored_runs_keys(self):
        names = [f.name for block in BLOCKS for f in dataclasses.fields(block)]
        self.assertEqual(len(names), len(set(names)))   # no field in two blocks
        config_fields = [f.name for f in dataclasses.fields(few_shot.FewShotConfig)]
        self.assertEqual(sorted(names + ["algorithm"]), sorted(config_fields))
        with open(os.path.join(ROOT, "tests", "fixtures", "runs_b3ab8ee", "few_shot",
                               "config.json")) as f:
            stored = json.load(f)
        stored.pop("preset")
        # Every stored key is still a field; fields added since take the value that keeps
        # the stored run's behaviour (matching_scale 1: the paper's attention; Reptile's SGD on
        # whole episodes; no time budget; no augmentation, dropout or weight decay).
        added = {"matching_scale": 1.0, "inner_optimizer": "sgd", "inner_batch": 0,
                 "train_shots": 0, "clip_norm": 0.0, "max_minutes": 0.0, "adapt": "all",
                 "backbone": "conv4", "batch_size": 64,
                 "baseline_head": "centroid", "finetune_steps": 100, "finetune_lr": 1.0,
                 "augment": "none", "baseline_optimizer": "adam", "weight_decay": 0.0,
                 "drop_rate": 0.0, "drop_block_size": 5}
        self.assertEqual(sorted(few_shot.FewShotConfig().to_json()), sorted({**stored, **added}))
        self.assertEqual(few_shot.FewShotConfig(**stored).to_json(), {**stored, **added})

    def test_switches_of_blocks_that_do_not_apply_are_refused_naming_who_takes_them(self):
        with self.assertRaisesRegex(ValueError, r"`per_step_lr`=True applies to `algorithm`="
                                                r"maml, fomaml, hsml, megan, not 'reptile'"):
            config(self.folder, algorithm="reptile", per_step_lr=True)
        with self.assertRaisesRegex(ValueError, r"`fce`=True applies to `algorithm`=matching, "
                                                r"not 'protonet'"):
            config(self.folder, algorithm="protonet", fce=True)
        for algorithm in ("reptile", "hsml", "megan", "meta_lstm", "protonet"):
            with self.assertRaisesRegex(ValueError, r"`adapt`=head applies to `algorithm`="
                                                    rf"maml, fomaml, metasgd, not '{algorithm}'"):
                config(self.folder, algorithm=algorithm, adapt="head")
        with self.assertRaisesRegex(ValueError, r"`adapt`='body' is not one of \['all', 'head'\]"):
            config(self.folder, adapt="body")
        # Plain inner-loop settings are ignored, not refused, where they do not apply.
        self.assertEqual(config(self.folder, algorithm="protonet", inner_steps=4).inner_steps, 4)

    def test_a_toy_learner_registered_here_trains_scores_and_serves_through_the_registry(self):
        learners.register(TOY)
        self.addCleanup(learners.unregister, TOY.name)
        self.assertIn("toy_inner_adam", learners.names("gradient"))
        with self.assertRaisesRegex(ValueError, r"`first_order_steps`=2 applies to "
                                                r"`algorithm`=maml, not 'toy_inner_adam'"):
            config(self.folder, algorithm="toy_inner_adam", first_order_steps=2)
        toy = config(self.folder, algorithm="toy_inner_adam", meta_batch_size=2, filters=8)
        self.assertFalse(toy.metric)
        splits = few_shot.load_data(toy)
        setup = few_shot.build(toy, splits.train.image_shape)
        self.assertEqual(setup.inner.name, "adam")
        before = [v.numpy() for v in setup.model.trainable_variables]
        metrics = setup.learner.train_step(
            few_shot.training_sampler(toy, splits.train)(tf.constant(0, tf.int64)))
        self.assertTrue(np.isfinite(float(metrics["meta_loss/model"])))
        moved = [np.abs(v.numpy() - b).max() for v, b in zip(setup.model.trainable_variables,
                                                              before)]
        self.assertGreater(max(moved), 0.0)
        accuracies = few_shot.episode_accuracies(setup, splits.test, episodes=2, inner_steps=2)
        self.assertEqual(accuracies.shape, (2,))
        parts = learners.get(toy.algorithm).serving(setup, 2)
        self.assertEqual(sorted(parts), ["adapt_fn", "logits_fn", "state_shapes", "variables"])
        self.assertEqual(learners.get(toy.algorithm).serving_metadata(setup),
                         {"inner_optimizer": "adam", "adapt": "all"})
