"""Export a SavedModel version from the latest training checkpoint.

    mnist-convnet export                          # the default run's checkpoints
    mnist-convnet export --export_dir=runs/a      # run a's: runs/checkpoints/a, as train

Useful when a run was stopped after some epochs, or to re-export after changing the
serving signature, without training again.
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import app, flags

from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import UserError, exit_on_user_error

flags.DEFINE_string("export_dir", shared.DEFAULT_EXPORT_DIR, "SavedModel base folder.")
flags.DEFINE_string(
    "checkpoint_dir",
    None,
    "Checkpoints of a training run (default: where `train --export_dir` puts them, "
    "<export_dir's folder>/checkpoints/<its name>). The network is the one they record.",
)


def check(flags_obj: flags.FlagValues) -> str:
    """The checkpoint folder, found to hold checkpoints: known without TensorFlow
    (commands/main.py calls this before loading it). ``checkpoint`` is the state file
    naming the latest one, written by every save (what ``tf.train.latest_checkpoint`` reads).
    """
    checkpoint_dir = shared.run_checkpoint_dir(flags_obj)
    if not (Path(checkpoint_dir) / "checkpoint").is_file():
        raise UserError(f"no checkpoint found in {checkpoint_dir}")
    return checkpoint_dir


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    with exit_on_user_error():
        checkpoint_dir = check(flags.FLAGS)
        from mnist_convnet.export import saved_model
        from mnist_convnet.training import checkpoints  # TensorFlow: not for --help

        model = checkpoints.restore_model(checkpoint_dir)
        version_dir = saved_model.export_saved_model(model, flags.FLAGS.export_dir)
    print(json.dumps({"export_dir": str(version_dir)}), flush=True)
