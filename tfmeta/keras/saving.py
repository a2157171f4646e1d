"""``.keras`` loading of the front door's models: compile them back through their own ``compile``.

Keras restores a subclass's compile settings only through ``compile_from_config``
when ``compile`` is overridden (ours builds the engine); the optimizer is built
there in the engine's variable order, which is also the order it was saved in.
"""

from __future__ import annotations

import keras


class CompileFromConfig:
    """Mixin of a ``keras.Model`` whose ``compile`` builds its learner."""

    def compile_from_config(self, config: dict) -> None:
        self.compile(**keras.saving.deserialize_keras_object(config))
