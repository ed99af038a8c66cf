"""Flags that several commands share, and the flags generated from settings dataclasses.

Only the command modules import absl's flags; the library takes plain values. The
DEFINE calls here are made on behalf of the command that asks for them, so each flag is
listed by that command's ``--help``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from absl import flags

if TYPE_CHECKING:  # imported where used: `predict --tflite` must not load TensorFlow
    from mnist_convnet.training import data
    from mnist_convnet.training.config import Config

DEFAULT_EXPORT_DIR = "saved_models/mnist_convnet"

flags.disclaim_key_flags()  # flags defined below belong to the command that asks for them


def define_flags_of(settings_class: type) -> None:
    """A flag for every field of a settings dataclass (``Config``, ``BatchingOptions``):
    same name, default, help and choices (``settings.option``).

    Bounds and choices are not given to absl: the dataclass checks them, so that the CLI
    and the Python API refuse a bad value with the same sentence.
    """
    from mnist_convnet.settings import field_type

    define = {
        bool: flags.DEFINE_bool,
        int: flags.DEFINE_integer,
        float: flags.DEFINE_float,
        str: flags.DEFINE_string,
    }
    for field in dataclasses.fields(settings_class):
        meta = field.metadata
        if not meta.get("flag"):
            continue  # flag=False, or a plain field that is not a setting
        help_text = meta["help"]
        if meta["choices"]:
            help_text += f" One of: {', '.join(meta['choices'])}."
        if meta["at_least"] is not None:
            help_text += f" At least {meta['at_least']}."
        define[field_type(field)](field.name, field.default, help_text)


def from_flags(settings_class: type, flags_obj: flags.FlagValues):
    """The settings the flags describe (raises ``UserError`` for a bad value)."""
    names = [f.name for f in dataclasses.fields(settings_class) if f.metadata.get("flag")]
    return settings_class(**{name: flags_obj[name].value for name in names})


def define_config_flags() -> None:
    """The training flags, one for every ``Config`` field."""
    from mnist_convnet.training.config import Config

    define_flags_of(Config)


def config_from_flags(flags_obj: flags.FlagValues) -> Config:
    """The ``Config`` the flags describe (raises ``UserError`` for a bad value)."""
    from mnist_convnet.training.config import Config

    return from_flags(Config, flags_obj)


def _define_once(define, name: str, *args, **kwargs) -> None:
    """Defines a shared flag, or (when another command in this process already did) makes it
    this command's too."""
    if name not in flags.FLAGS:
        define(name, *args, **kwargs)
    flags.declare_key_flag(name)


def define_data_flags() -> None:
    """--manual_dir and --data_dir: where MNIST comes from and where tfds keeps it."""
    from mnist_convnet.settings import MANUAL_DIR_ENV

    _define_once(
        flags.DEFINE_string,
        "manual_dir",
        None,
        "Folder with the four official MNIST .gz files, for offline preparation "
        f"(default: ${MANUAL_DIR_ENV} if set, else tfds downloads them).",
    )
    _define_once(
        flags.DEFINE_string, "data_dir", None, "Where tfds keeps prepared data (tfds' default)."
    )


def load_datasets(flags_obj: flags.FlagValues) -> data.Datasets:
    """MNIST as the data flags say."""
    from mnist_convnet.training import data

    return data.load(flags_obj.data_dir, flags_obj.manual_dir or data.default_manual_dir())


def define_model_dir_flag(
    help_text: str = "A SavedModel version folder, or a base folder of versions (its latest "
    "is used).",
) -> None:
    _define_once(flags.DEFINE_string, "model_dir", DEFAULT_EXPORT_DIR, help_text)


def define_log_dir_flag(default: str, help_text: str) -> None:
    """absl.logging already defines --log_dir (for log files it writes only when asked to);
    we reuse that flag for TensorBoard rather than invent a second name for a log folder."""
    flags.FLAGS.set_default("log_dir", default)
    flags.FLAGS["log_dir"].help = help_text
    flags.declare_key_flag("log_dir")


def checkpoint_dir_for(export_dir: str) -> str:
    """Where a run exporting to ``export_dir`` keeps its checkpoints, unless told otherwise:
    ``saved_models/mnist_convnet`` -> ``saved_models/checkpoints/mnist_convnet``."""
    path = Path(export_dir)
    return str(path.parent / "checkpoints" / path.name)


def run_checkpoint_dir(flags_obj: flags.FlagValues) -> str:
    """The run's checkpoint folder: ``--checkpoint_dir``, else ``checkpoint_dir_for`` its
    ``--export_dir`` — one derivation, so ``export`` finds what ``train`` wrote."""
    return flags_obj.checkpoint_dir or checkpoint_dir_for(flags_obj.export_dir)
