"""The critic experiment: train the ResNet classifier that scores few-shot generation.

Paper 000 (section 4.2) scores a meta-trained GAN with a pretrained critic, "a
ResNet with four residual blocks" (99.4% accuracy on MNIST, 81.7% on
Omniglot). This package holds its settings (:mod:`.config`), its data
(:mod:`.data`: every class, per-class held-out parts), its augmentation
(:mod:`.augment`: random shift, rotation and zoom) and its training
(:mod:`.train`); the network is :func:`tfmeta.nets.build_critic` and a trained
critic is saved and loaded with :mod:`tfmeta.eval.critic`.

Example:
    >>> from tfmeta.experiments import critic
    >>> model, report = critic.train_critic(critic.CriticConfig(dataset="mnist"))
    >>> critic.save_critic(model, report, "/tmp/critic_mnist")
"""

from tfmeta.eval.critic import load_critic, save_critic
from tfmeta.experiments.critic.augment import random_affine, random_binarize
from tfmeta.experiments.critic.config import AUGMENTATIONS, CriticConfig
from tfmeta.experiments.critic.data import CriticData, critic_data, heldout_count
from tfmeta.experiments.critic.train import (Progress, make_optimizer, train_critic,
                                             training_batches)

__all__ = ["AUGMENTATIONS", "CriticConfig", "CriticData", "Progress", "critic_data",
           "heldout_count", "load_critic", "make_optimizer", "random_affine", "random_binarize",
           "save_critic", "train_critic", "training_batches"]
