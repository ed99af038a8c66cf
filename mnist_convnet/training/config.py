"""What a training run computes: one frozen dataclass holding every default and every rule.

    config = Config(model="lenet5", epochs=3)        # Python: checked as it is made
    mnist-convnet train --model=lenet5 --epochs=3    # the same fields, as flags

The command line is generated from these fields (``commands/flags.py``): each becomes a
flag of the same name, with the field's default, help text and choices, and the flag
values are turned back into a ``Config``. So a default is written once, here, and a bad
value gets the same one-line ``UserError`` from the CLI and from the Python API.

A *recipe* is a named set of the settings that decide how a network is trained (epochs,
batch size, Adam's rate, its schedule and its beta_2, the Dropout layer's rate). Each
network has a default one — ``keras_convnet`` the keras.io recipe, ``lenet5`` its own —
and ``recipe="fast"`` picks another; a setting given explicitly overrides the recipe's.

Where a run writes (export, checkpoint and log folders) and how it is spread over devices
(``--strategy``) are not part of it: they change no number the run computes, and, like
flax's ``--workdir``, they are the command's own flags.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from mnist_convnet import settings
from mnist_convnet.errors import UserError
from mnist_convnet.network.networks import NETWORKS, PRECISIONS
from mnist_convnet.settings import option

RECIPES: dict[str, dict[str, Any]] = {
    # keras.io's Simple MNIST convnet: model.fit(batch_size=128, epochs=15), Adam's 1e-3.
    "keras.io": {
        "epochs": 15,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "lr_schedule": "constant",
        "adam_beta_2": 0.999,
        "dropout": 0.5,
        "augment": 0.0,
        "deslant": False,
    },
    # keras.io's network for other writers than MNIST's: half of each training batch
    # slanted, turned, scaled, bent, re-penned, blurred or coarsened, flags drawn on 1s and
    # bars through 7s (augment.py), every digit then deslanted (deslant.py), with a rate
    # that warms up and decays and half keras.io's dropout, which augmented data does not
    # need (chosen on the validation split and the writers' tuning set: docs/captures.md).
    "augmented": {
        "epochs": 15,
        "batch_size": 128,
        "learning_rate": 3e-3,
        "lr_schedule": "warmup_cosine",
        "adam_beta_2": 0.999,
        "dropout": 0.25,
        "augment": 1.0,
        "deslant": True,
    },
    # The same network to 99% in a fraction of the time: one cycle of a high rate, Adam's
    # second moment averaged over ~100 steps instead of ~1,000, and half keras.io's
    # dropout, which three epochs do not need (chosen on the validation split:
    # docs/recipes.md).
    "fast": {
        "epochs": 3,
        "batch_size": 128,
        "learning_rate": 8e-3,
        "lr_schedule": "warmup_cosine",
        "adam_beta_2": 0.99,
        "dropout": 0.25,
        "augment": 0.0,
        "deslant": False,
    },
    # What lifts LeNet-5 past 98.9%: 4x the steps, a rate decaying to 0 (docs/networks.md).
    "lenet5": {
        "epochs": 15,
        "batch_size": 32,
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "adam_beta_2": 0.999,
        "dropout": 0.5,  # LeNet-5 has no Dropout layer; keras_convnet under this recipe does
        "augment": 0.0,
        "deslant": False,
    },
}
# Fields added after checkpoints were first written, with the value those checkpoints were
# trained under: at that value a field stays out of the fingerprint, so they still resume.
# (A field a network does not have, such as LeNet-5's dropout, is None: out of it too.)
LATER_FINGERPRINT_FIELDS = {
    "adam_beta_2": 0.999,
    "dropout": 0.5,
    "augment": 0.0,
    "deslant": False,
}
# What augment.py draws, by revision: a run's checkpoints resume only under the revision
# they were trained with (an augmented run's fingerprint holds it), so a checkout whose
# augmentation changed starts over instead of exporting the old run's weights as new
# (tests/training/test_augment.py holds each revision's constants: one changed under the
# same revision fails it).
# 2: the strokes drawn on every 1 and 7 of a batch, not only on the changed share.
# 3: a slash through 30% of the 0s and a printed 4's roof on 30% of the 4s.
AUGMENT_REVISION = 3
# The names of step.GRADIENTS and optimizer.LR_SCHEDULES (a test keeps them in step), here
# so that Config, and --help, need no TensorFlow.
GRADIENT_MODES = ("tape", "manual")
LR_SCHEDULE_NAMES = ("constant", "cosine", "warmup_cosine")


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that decides what a training run computes.

    Settings left to the recipe are filled in as the config is made, so a ``Config`` always
    holds the values the run uses (and ``dataclasses.replace`` keeps them: to train another
    network with its own recipe, make a new ``Config``).
    """

    model: str = option(
        "keras_convnet",
        "Which network to train.",
        choices=tuple(NETWORKS),
        resume_must_match=True,
    )
    gradients: str = option(
        "tape",
        "tape: backpropagate our dL/dz with tf.GradientTape; manual: every layer's gradient "
        "from the article's hand-written derivations (mnist_convnet/network/backprop.py).",
        choices=GRADIENT_MODES,
        resume_must_match=True,
    )
    recipe: str | None = option(
        None,
        "A named set of epochs, batch size, learning rate and schedule (default: the "
        "network's own: keras.io for keras_convnet and article, lenet5 for lenet5). Flags "
        "given explicitly override it.",
        choices=tuple(RECIPES),
    )
    epochs: int | None = option(
        None, "Passes over the 54,000 training images (default: the recipe's).", at_least=1
    )
    batch_size: int | None = option(
        None,
        "Images per training step (default: the recipe's).",
        at_least=1,
        resume_must_match=True,
    )
    learning_rate: float | None = option(
        None,
        "Adam's step size, its peak with a schedule (default: the recipe's).",
        above=0,
        resume_must_match=True,
    )
    lr_schedule: str | None = option(
        None,
        "constant: the keras.io recipe; cosine: decay to 0 over the run; warmup_cosine: "
        "a linear warm-up over the first tenth of the steps, then cosine decay to 0 "
        "(default: the recipe's).",
        choices=LR_SCHEDULE_NAMES,
        resume_must_match=True,
    )
    adam_beta_2: float | None = option(
        None,
        "Adam's beta_2: the decay of its running mean of squared gradients (Keras' default "
        "0.999 in the keras.io recipe; default: the recipe's).",
        above=0,
        below=1,
        resume_must_match=True,
    )
    dropout: float | None = option(
        None,
        "The rate of the network's Dropout layer, in networks that have one (keras_convnet: "
        "keras.io's 0.5; default: the recipe's).",
        at_least=0,
        below=1,
        resume_must_match=True,
    )
    augment: float | None = option(
        None,
        "How strongly each training batch is changed the ways other writers and scanners "
        "differ from MNIST (augment.py): 0 leaves it as it is, 1 is the chosen strength "
        "(default: the recipe's).",
        at_least=0,
        resume_must_match=True,
    )
    deslant: bool | None = option(
        None,
        "A Deslant first layer (deslant.py): every digit sheared upright by its ink's second "
        "moments, in training and in every served path; keras_convnet only (default: the "
        "recipe's).",
        resume_must_match=True,
    )
    seed: int = option(
        0,
        "Seeds weights, dropout, data order and augmentation.",
        at_least=0,
        resume_must_match=True,
    )
    deterministic: bool = option(True, "Turn on TF op determinism: same seed, same final weights.")
    max_steps_per_epoch: int | None = option(
        None, "Cut epochs short (smoke tests).", at_least=1, resume_must_match=True
    )
    precision: str = option(
        "float32",
        "float32, or mixed_bfloat16: layers compute in bfloat16, weights stay float32 "
        "(measured slower on CPUs without AVX512_BF16; see docs/speed.md).",
        choices=PRECISIONS,
    )
    jit_compile: bool = option(
        False,
        "XLA-compile the training step (slower in our measurements: docs/speed.md).",
    )
    checkpoint_every_steps: int = option(
        0,
        "Also checkpoint every N steps within an epoch (0: at epoch ends only). A "
        "checkpoint is always written on SIGTERM/SIGINT before exiting.",
        at_least=0,
    )
    steps_per_call: int = option(
        10,
        "Training steps per tf.function call: Python's per-step work (metrics, progress, "
        "signal and checkpoint checks) then runs once per call. Same weights; faster than 1 in our "
        "measurements (docs/speed.md).",
        at_least=1,
    )
    keep_checkpoints: int = option(3, "How many recent checkpoints to keep.", at_least=1)
    verbose: bool = option(True, "A progress bar and a line per epoch.", flag=False)

    def __post_init__(self) -> None:
        # Config(learning_rate=1) must be the run `--learning_rate=1` makes (1.0): the
        # fingerprint that lets one resume the other is the values' JSON.
        settings.check(self)
        network = NETWORKS[self.model]
        if self.dropout is not None and not network.dropout:
            raise UserError(f"model={self.model} has no Dropout layer; drop dropout")
        if self.deslant and not network.deslant:
            raise UserError(f"model={self.model} takes no Deslant layer; drop deslant")
        recipe = self.recipe or network.recipe
        object.__setattr__(self, "recipe", recipe)
        for name, value in RECIPES[recipe].items():
            if name in ("dropout", "deslant") and not getattr(network, name):
                continue  # the keras.io recipe on the article's network: nothing to drop
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.gradients == "manual" and self.precision != "float32":
            raise UserError("gradients=manual computes in float32 only; drop precision")
        if self.jit_compile and self.deterministic and NETWORKS[self.model].max_pools:
            raise UserError(
                "XLA has no deterministic max-pooling gradient: set deterministic=False "
                "(--nodeterministic) to use jit_compile with this model"
            )

    def fingerprint(self) -> str:
        """The values a checkpoint must have been written under to be resumed by this config."""
        fields = dataclasses.fields(self)
        keys = [f.name for f in fields if f.metadata["resume_must_match"]]
        values = {k: getattr(self, k) for k in keys}
        for name, value in LATER_FINGERPRINT_FIELDS.items():
            if values[name] in (value, None):
                del values[name]
        if self.augment:
            values["augment_revision"] = AUGMENT_REVISION
        return json.dumps(values, sort_keys=True)
