"""The newest checkpoint of a run's ``checkpoints/`` directory, checked.

``tf.train.latest_checkpoint`` answers None, with an ERROR log line, where the
directory's state file (``checkpoint``) names a newest checkpoint whose files are
gone; a trainer would then start a new run beside the kept checkpoints and, saving,
rotate them away. Here that is an error naming the file and what is kept.

Example:
    >>> latest_checkpoint("runs/x")            # runs/x/checkpoints/ckpt-900, or None
"""

from __future__ import annotations

import os

import tensorflow as tf

__all__ = ["latest_checkpoint"]


def latest_checkpoint(workdir: str) -> str | None:
    """The path of the newest checkpoint of ``workdir/checkpoints``; None if it has none.

    Raises:
      ValueError: the state file names a newest checkpoint whose files are missing.
    """
    directory = os.path.join(workdir, "checkpoints")
    state = tf.train.get_checkpoint_state(directory)
    if state is None or not state.model_checkpoint_path:
        return None
    newest = state.model_checkpoint_path   # made absolute by get_checkpoint_state
    if tf.io.gfile.exists(newest + ".index"):
        return newest
    kept = [os.path.basename(p) for p in state.all_model_checkpoint_paths
            if tf.io.gfile.exists(p + ".index")]
    raise ValueError(
        f"{os.path.join(directory, 'checkpoint')} names {os.path.basename(newest)} as the "
        f"newest checkpoint, but its files are missing (kept: {', '.join(kept) or 'none'}); "
        f"point its model_checkpoint_path at a kept one to resume from there, or use "
        f"another workdir")
