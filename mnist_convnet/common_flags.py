"""Flags that several subcommands share, defined once."""

from __future__ import annotations

from pathlib import Path

from absl import flags

from mnist_convnet import data

DEFAULT_EXPORT_DIR = "saved_models/mnist_convnet"


def checkpoint_dir_for(export_dir: str) -> str:
    """Where a run exporting to ``export_dir`` keeps its checkpoints, unless told otherwise:
    ``saved_models/mnist_convnet`` -> ``saved_models/checkpoints/mnist_convnet``."""
    path = Path(export_dir)
    return str(path.parent / "checkpoints" / path.name)


def define_data_flags() -> None:
    """--manual_dir and --data_dir: where MNIST comes from and where tfds keeps it.

    Several subcommands share these; defining them twice in one process (a test that
    imports two subcommands) is harmless.
    """
    if "manual_dir" in flags.FLAGS:
        return
    flags.DEFINE_string(
        "manual_dir",
        None,
        "Folder with the four official MNIST .gz files, for offline preparation "
        f"(default: ${data.MANUAL_DIR_ENV} if set, else tfds downloads them).",
    )
    flags.DEFINE_string("data_dir", None, "Where tfds keeps prepared data (tfds' default).")


def load_datasets(flags_obj: flags.FlagValues) -> data.Datasets:
    """MNIST as the data flags say."""
    return data.load(flags_obj.data_dir, flags_obj.manual_dir or data.default_manual_dir())


def define_model_dir_flag() -> None:
    if "model_dir" in flags.FLAGS:
        return
    flags.DEFINE_string(
        "model_dir",
        DEFAULT_EXPORT_DIR,
        "A SavedModel version folder, or a base folder of versions (its latest is used).",
    )
