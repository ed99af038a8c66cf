"""``mnist-convnet SUBCOMMAND [--flags]``: one console script, one absl app per subcommand.

Each subcommand is its own module with its own flags; only the chosen one is imported,
so ``mnist-convnet train --helpfull`` lists exactly the flags that training reads.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "train": ("mnist_convnet.train", "train, evaluate and export a model"),
    "export": ("mnist_convnet.export_main", "export a SavedModel from a training checkpoint"),
    "export-tflite": ("mnist_convnet.tflite_main", "SavedModel -> float32, dynamic-range, int8 .tflite"),
    "predict": ("mnist_convnet.predict", "read digits from image files (PNG, JPEG, ...)"),
    "serve": ("mnist_convnet.serve", "serve a SavedModel with TF Serving's REST API"),
    "evaluate": ("mnist_convnet.evaluate_main", "score a SavedModel, .tflite or .keras on the test split"),
    "visualize": ("mnist_convnet.visualize_main", "draw curves, filters, feature maps... as PNG files"),
}


def _usage() -> str:
    lines = ["usage: mnist-convnet SUBCOMMAND [--flags]   (SUBCOMMAND --help for its flags)", ""]
    lines += [f"  {name:10s} {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(_usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    name = argv[1]
    if name not in SUBCOMMANDS:
        print(f"error: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(SUBCOMMANDS[name][0])
    from absl import app

    app.run(module.main, argv=[f"mnist-convnet {name}", *argv[2:]])


if __name__ == "__main__":
    main()
