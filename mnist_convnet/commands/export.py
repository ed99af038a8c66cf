"""Export a SavedModel version from the latest training checkpoint.

    mnist-convnet export --checkpoint_dir=saved_models/checkpoints/mnist_convnet

Useful when a run was stopped after some epochs, or to re-export after changing the
serving signature, without training again.
"""

from __future__ import annotations

import json

from absl import app, flags

from mnist_convnet import checkpoints, export, model
from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import exit_on_user_error

flags.DEFINE_string(
    "checkpoint_dir",
    shared.checkpoint_dir_for(shared.DEFAULT_EXPORT_DIR),
    "Checkpoints of a training run.",
)
flags.DEFINE_enum("model", "keras_convnet", list(model.MODELS), "The checkpointed network.")
flags.DEFINE_string("export_dir", shared.DEFAULT_EXPORT_DIR, "SavedModel base folder.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    with exit_on_user_error():
        model = checkpoints.restore_model(flags.FLAGS.checkpoint_dir, flags.FLAGS.model)
        version_dir = export.export_saved_model(model, flags.FLAGS.export_dir)
    print(json.dumps({"export_dir": str(version_dir)}), flush=True)
