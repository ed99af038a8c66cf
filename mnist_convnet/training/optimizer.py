"""Adam and the schedules its step size follows over a run (``--lr_schedule``).

Every recipe trains with Adam (keras.io's choice); what differs is its rate, its beta_2
and how the rate moves over the run's steps. ``config.LR_SCHEDULE_NAMES`` lists these
names for ``--help`` without TensorFlow; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:
    from mnist_convnet.training.config import Config

LR_SCHEDULES: dict[
    str, Callable[[float, int], float | keras.optimizers.schedules.LearningRateSchedule]
] = {
    # Adam's step size held fixed, as in the keras.io recipe.
    "constant": lambda rate, total_steps: rate,
    # Cosine decay from the given rate to 0 over the run's steps: in the spirit of the
    # LeNet-5 paper's decreasing schedule, and what lifts LeNet-5 past 98.9% (docs/networks.md).
    "cosine": lambda rate, total_steps: keras.optimizers.schedules.CosineDecay(rate, total_steps),
    # One cycle: up from 0 to the rate over the first tenth of the steps (large early steps
    # from random weights overshoot), then cosine decay to 0 (the fast recipe).
    "warmup_cosine": lambda rate, total_steps: keras.optimizers.schedules.CosineDecay(
        0.0, total_steps - total_steps // 10, warmup_target=rate, warmup_steps=total_steps // 10
    ),
}


def make_optimizer(model: keras.Model, config: Config, total_steps: int) -> keras.optimizers.Adam:
    """Adam with its step size following ``config.lr_schedule`` over ``total_steps``, its
    moments already made (a checkpoint restores into them)."""
    schedule = LR_SCHEDULES[config.lr_schedule](config.learning_rate, total_steps)
    optimizer = keras.optimizers.Adam(learning_rate=schedule, beta_2=config.adam_beta_2)
    optimizer.build(model.trainable_variables)
    return optimizer
