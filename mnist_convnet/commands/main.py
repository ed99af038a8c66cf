"""``mnist-convnet SUBCOMMAND [--flags]``: one console script, one absl app per subcommand.

This is the one place that sets TensorFlow's log level: before TensorFlow is imported, to 3
unless the user set ``TF_CPP_MIN_LOG_LEVEL``. On a CPU-only machine TensorFlow's C++
start-up prints lines (oneDNN, "Could not find cuda drivers", an E-line about cuInit) that
are not errors of ours and that ignore the level: written before absl's logging starts,
they come at 2 — what most guides tell TensorFlow users to set — as at 0. So those lines are
silenced under any level but 0, which asks to see everything.

Each subcommand is its own module in ``mnist_convnet/commands/`` with its own flags; only the
chosen one is imported, and ``mnist-convnet SUBCOMMAND --help`` lists exactly its flags.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterator

from mnist_convnet.errors import exit_on_user_error

SUBCOMMANDS = {
    "train": ("train", "train, evaluate and export a model"),
    "export": ("export", "export a SavedModel from a training checkpoint"),
    "export-tflite": ("export_tflite", "SavedModel -> float32, dynamic-range, int8 .tflite"),
    "predict": ("predict", "read digits from image files (PNG, JPEG, ...)"),
    "personalize": ("personalize", "teach a model one writer's digits: a new version"),
    "serve": ("serve", "serve a SavedModel with TF Serving's REST API"),
    "evaluate": ("evaluate", "score a SavedModel, .tflite or .keras on the test split"),
    "visualize": ("visualize", "draw curves, filters, feature maps... as PNG files"),
}
HELP = ("-h", "--help", "--helpshort")
_quiet = False  # decided once by main(): silence native start-up lines while loading


def _usage() -> str:
    lines = ["usage: mnist-convnet SUBCOMMAND [--flags]   (SUBCOMMAND --help for its flags)", ""]
    lines += [f"  {name:14s}{text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "\n".join(lines)


@contextlib.contextmanager
def _quiet_native_stderr(quiet: bool) -> Iterator[None]:
    """Sends what C++ writes to file descriptor 2 to /dev/null while TensorFlow loads: its
    start-up lines about CUDA drivers ignore TF_CPP_MIN_LOG_LEVEL. Python's own errors
    are raised after the descriptor is restored, so none is lost."""
    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def loading_native() -> Iterator[None]:
    """Around an import of TensorFlow, or a LiteRT interpreter's creation, that a command
    makes late (after its flags say it needs one): quiet as main()'s own import is."""
    with _quiet_native_stderr(_quiet):
        yield


def _help(name: str, module) -> str:
    from absl import flags

    summary = (module.__doc__ or "").strip().split("\n\n")[0]
    usage = getattr(module, "USAGE", f"mnist-convnet {name} [--flags]")
    return f"usage: {usage}\n\n{summary}\n\nflags:\n{flags.FLAGS.module_help(module.__name__)}"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in HELP + ("help",):
        print(_usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    name, args = argv[1], argv[2:]
    if name not in SUBCOMMANDS:
        print(f"error: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        sys.exit(2)
    global _quiet
    _quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3").strip() != "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with loading_native():
        module = importlib.import_module(f"mnist_convnet.commands.{SUBCOMMANDS[name][0]}")
    if any(arg in HELP for arg in args):
        print(_help(name, module))  # flags only: no TensorFlow for a help text
        sys.exit(0)
    from absl import app

    app.run(_checked_then_loaded(module), argv=[f"mnist-convnet {name}", *args])


def _only_our_info() -> None:
    """Once flags are parsed absl shows INFO, and with it every library's: TensorFlow's
    SavedModel builder ("Function `<lambda>` contains input name(s) ... will be renamed"),
    its checkpoint saver ("Sharding callback duration"), tfds' download manager. At the
    default ``--verbosity`` (0) only this package's INFO lines pass; warnings and errors
    pass from everyone, and ``--verbosity=1`` shows every library's INFO again."""
    import logging as std_logging

    from absl import flags
    from absl import logging as absl_logging

    if flags.FLAGS.verbosity > 0:
        return
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    absl_logging.get_absl_handler().addFilter(
        lambda record: record.levelno >= std_logging.WARNING or record.pathname.startswith(package)
    )


def _checked_then_loaded(module) -> Callable[[list[str]], None]:
    """The command's ``main``, run by absl once the flags parse: first the command's own
    ``check`` of them, if it has one, then TensorFlow. A mistyped flag or a bad value is
    one error line in a fraction of a second, not after TensorFlow's seconds of start-up."""

    def run(argv: list[str]) -> None:
        _only_our_info()
        check = getattr(module, "check", None)
        if check is not None:
            from absl import flags

            with exit_on_user_error():
                check(flags.FLAGS)
        if getattr(module, "LOADS_TENSORFLOW", True):
            # The command imports TensorFlow where it runs (so that --help need not); load
            # it here, where its start-up lines are silenced. predict decides for itself.
            with loading_native():
                import tensorflow as tf

                # Listing the devices makes CUDA's probe run now (its E-line "failed call
                # to cuInit" shows at any level but 3); logical devices stay configurable.
                tf.config.list_physical_devices()
        module.main(argv)

    return run
