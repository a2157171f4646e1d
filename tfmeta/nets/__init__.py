"""Model builders shared by the experiments: the DCGAN players and the critic's ResNet.

* :func:`build_generator` / :func:`build_discriminator` -- the DCGAN of the
  MAML-GAN paper (:mod:`tfmeta.nets.dcgan`);
* :func:`build_critic` / :func:`critic_features` -- the four-block ResNet
  classifier that scores generated images (:mod:`tfmeta.nets.resnet`);
* :func:`build_conv4` -- the few-shot classifier of MAML and its successors
  (:mod:`tfmeta.nets.conv4`).

Every builder returns a built functional ``keras.Model`` whose trainable
variables fully describe it, so it runs under ``tfmeta.functional.apply``.

Example:
    >>> from tfmeta import nets
    >>> g, d = nets.build_generator(), nets.build_discriminator()
    >>> critic = nets.build_critic((28, 28, 1), num_classes=10)
"""

from tfmeta.nets.conv4 import build_conv4
from tfmeta.nets.dcgan import build_discriminator, build_generator
from tfmeta.nets.resnet import build_critic, critic_features

__all__ = ["build_conv4", "build_critic", "build_discriminator", "build_generator", "critic_features"]
