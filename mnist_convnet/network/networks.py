"""The networks, one entry each: what ``Config`` and ``--help`` need to know, without TensorFlow.

Each entry names the builder in ``model.py`` that makes the Keras model, the recipe a run
of it uses unless told otherwise (``config.RECIPES``), whether it max-pools (XLA has no
deterministic max-pooling gradient, so ``jit_compile`` with determinism is refused for
those) and whether it has a Dropout layer (whose rate a recipe sets: ``--dropout``). A
new network is one builder in ``model.py`` and one line here; a test builds every
network and checks its entry against the layers it really has.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Network:
    builder: str  # the function in model.py that builds it
    recipe: str  # its default recipe, a key of config.RECIPES
    max_pools: bool
    dropout: bool = False  # its builder takes the Dropout layer's rate, ``dropout=``
    deslant: bool = False  # its builder takes ``deslant=True``: a Deslant first layer


NETWORKS = {
    "keras_convnet": Network(
        "build_model", recipe="keras.io", max_pools=True, dropout=True, deslant=True
    ),
    "lenet5": Network("build_lenet5", recipe="lenet5", max_pools=False),
    "article": Network("build_article", recipe="keras.io", max_pools=True),
}
PRECISIONS = ("float32", "mixed_bfloat16")
