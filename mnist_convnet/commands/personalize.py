"""Teach a served model one writer's hand: a few labelled digits -> a new version.

    mnist-convnet personalize --model_dir=saved_models/mnist_convnet my_digits/
    mnist-convnet personalize --model_dir=saved_models/mnist_convnet/3 --tflite my_digits/

EXAMPLES is a folder of images whose subfolders (``4/a.png``) or names (``4_a.png``)
give their labels. Each is read as the server reads it (the SavedModel's
``serving_images`` finds the digit); the network learns them with MNIST replayed beside
them (``mnist_convnet/training/personalize.py``), and the result is exported as the next
version of the base folder, with every signature and its warm-up requests, so a running
``mnist-convnet serve`` picks it up as any new version. ``--tflite`` writes its ``.tflite``
files and ``reader.tflite`` too; ``--label=NAME --model_config_file=FILE`` names the new
version in the server's model config (TF Serving's ``version_labels``), so a server that
reads the file again (``--model_config_file_poll_wait_seconds``) answers
``/v1/models/<name>/labels/NAME`` with it. One JSON line: the new version's folder, the loss on the
examples before and after, and the seconds learning took.
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import app, flags

from mnist_convnet import versions
from mnist_convnet.commands import flags as shared
from mnist_convnet.commands.main import loading_native
from mnist_convnet.errors import UserError, exit_on_user_error
from mnist_convnet.serving import configs

USAGE = (
    "mnist-convnet personalize [--model_dir=...] [--tflite] "
    "[--label=NAME --model_config_file=FILE] EXAMPLES_DIR"
)

shared.define_model_dir_flag(
    "The SavedModel to start from: a version folder, or a base folder (its latest); the "
    "new version is written into its base folder."
)
shared.define_data_flags()
flags.DEFINE_integer("steps", 200, "Steps of gradient descent.")
flags.DEFINE_float("learning_rate", 1.0, "The step size η of W <- W - η dL/dW.")
flags.DEFINE_enum("layers", "dense", ["dense", "all"], "Which weights learn.")
flags.DEFINE_integer("replay", 256, "MNIST training digits beside the examples in each step.")
flags.DEFINE_integer("seed", 0, "Which MNIST digits are replayed.")
flags.DEFINE_bool("tflite", False, "Also write the new version's .tflite files.")
flags.DEFINE_string("label", "", "Name the new version so in --model_config_file.")
flags.DEFINE_string(
    "model_config_file", "", "The server's model config (TF Serving's), where --label goes."
)


def check(flags_obj: flags.FlagValues) -> Path:
    """The version to start from, found without TensorFlow (commands/main.py calls this
    before loading it); a label is checked against the config file it goes into."""
    version = versions.resolve(flags_obj.model_dir)
    if bool(flags_obj.label) != bool(flags_obj.model_config_file):
        raise UserError("--label and --model_config_file go together: the label is written there")
    if flags_obj.label:
        configs.label_entry(flags_obj.model_config_file, version.parent, flags_obj.label)
    return version


def _examples(argv: list[str]) -> Path:
    if len(argv) != 2:
        raise app.UsageError(f"usage: {USAGE}")
    examples = Path(argv[1])
    if not examples.is_dir():
        raise UserError(f"{examples} is not a folder of examples")
    return examples


def run(version: Path, examples: Path, flags_obj: flags.FlagValues) -> dict:
    with loading_native():
        from mnist_convnet.export import saved_model
        from mnist_convnet.reading import inference, predict
        from mnist_convnet.training import data
        from mnist_convnet.training import personalize as personalize_lib

    options = personalize_lib.Personalization(
        steps=flags_obj.steps,
        learning_rate=flags_obj.learning_rate,
        layers=flags_obj.layers,
        replay=flags_obj.replay,
        seed=flags_obj.seed,
    )
    fn = predict.signature(inference.load_saved_model(version), number=False)
    images, labels = predict.found_digits(fn, predict.labelled_files(examples))
    replay_images, replay_labels = data.as_numpy(
        shared.load_datasets(flags_obj).train, options.pool
    )
    model = inference.load_keras_model(version)
    report = personalize_lib.personalize(
        model, images, labels, replay_images, replay_labels, options
    )
    new_version = saved_model.export_saved_model(model, version.parent)
    if flags_obj.tflite:
        _write_tflite(new_version, replay_images)
    labelled = {}
    if flags_obj.label:
        configs.set_label(
            flags_obj.model_config_file, version.parent, flags_obj.label, int(new_version.name)
        )
        labelled = {"label": flags_obj.label}
    return {"export_dir": str(new_version), "from": str(version), **labelled, **report}


def _write_tflite(version: Path, representative) -> None:
    from mnist_convnet.export import tflite
    from mnist_convnet.reading import inference

    tflite.write_all(
        inference.load_saved_model(version), representative, tflite.output_dir(version)
    )


def main(argv: list[str]) -> None:
    with exit_on_user_error():
        examples = _examples(argv)
        report = run(check(flags.FLAGS), examples, flags.FLAGS)
    print(json.dumps(report), flush=True)
