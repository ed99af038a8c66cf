"""Export a SavedModel version from the latest training checkpoint.

    mnist-convnet export --checkpoint_dir=saved_models/checkpoints/mnist_convnet

Useful when a run was stopped after some epochs, or to re-export after changing the
serving signature, without training again.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402

from absl import app, flags  # noqa: E402

from mnist_convnet import common_flags, export, loop, model  # noqa: E402
from mnist_convnet.errors import exit_on_user_error  # noqa: E402

flags.DEFINE_string(
    "checkpoint_dir",
    common_flags.checkpoint_dir_for(common_flags.DEFAULT_EXPORT_DIR),
    "Checkpoints of a training run.",
)
flags.DEFINE_enum("model", "keras_convnet", list(model.MODELS), "The checkpointed network.")
flags.DEFINE_string("export_dir", common_flags.DEFAULT_EXPORT_DIR, "SavedModel base folder.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    with exit_on_user_error():
        model = loop.restore_model(flags.FLAGS.checkpoint_dir, flags.FLAGS.model)
        version_dir = export.export_saved_model(model, flags.FLAGS.export_dir)
    print(json.dumps({"export_dir": str(version_dir)}), flush=True)


if __name__ == "__main__":
    app.run(main)
