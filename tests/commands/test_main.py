"""commands/main.py: the mnist-convnet console script and its subcommands' help."""

from __future__ import annotations

import logging
import types

import pytest
from absl import flags
from absl import logging as absl_logging

from mnist_convnet.commands import main
from mnist_convnet.commands.main import SUBCOMMANDS
from tests.helpers import run_python

EXPECTED_FLAGS = {
    "train": ["--epochs", "--model", "--export_dir", "--manual_dir", "--log_dir"],
    "export": ["--checkpoint_dir", "--export_dir"],
    "export-tflite": ["--model_dir", "--representative_images", "--data_dir"],
    "predict": ["--number", "--model_dir", "--tflite"],
    "serve": ["--port", "--host", "--model_name", "--model_dir"],
    "evaluate": ["--data_dir", "--manual_dir"],
    "personalize": ["--model_dir", "--steps", "--learning_rate", "--layers", "--tflite"],
    "visualize": ["--out_dir", "--digit_index", "--model_dir", "--log_dir"],
}


def test_every_subcommand_is_covered_here():
    assert set(EXPECTED_FLAGS) == set(SUBCOMMANDS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_FLAGS))
def test_subcommand_help_lists_its_own_flags_exits_0_and_is_quiet(name):
    result = run_python("-m", "mnist_convnet", name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no TensorFlow start-up lines, no CUDA E-line
    assert result.stdout.startswith(f"usage: mnist-convnet {name}")
    for flag in EXPECTED_FLAGS[name]:
        assert f"  {flag}:" in result.stdout or f"  --[no]{flag[2:]}:" in result.stdout, flag
    assert "--helpfull" not in result.stdout and "--verbosity" not in result.stdout  # only its own


def test_top_level_help_lists_the_subcommands():
    result = run_python("-m", "mnist_convnet", "--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert f"  {name} " in result.stdout


def test_unknown_subcommand_is_a_usage_error():
    result = run_python("-m", "mnist_convnet", "fly")
    assert result.returncode == 2 and "unknown subcommand 'fly'" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("level", ["1", "2"])
def test_the_usual_log_level_advice_keeps_the_start_up_quiet(level):
    """TF_CPP_MIN_LOG_LEVEL=2, as most guides say: still no TensorFlow start-up lines."""
    result = run_python(
        "-m", "mnist_convnet", "evaluate", "/nonexistent", TF_CPP_MIN_LOG_LEVEL=level
    )
    assert result.returncode == 2  # TensorFlow loaded, then the path refused
    assert result.stderr == "error: no such file or folder: /nonexistent\n"


@pytest.mark.slow
def test_level_0_shows_everything():
    result = run_python("-m", "mnist_convnet", "evaluate", "/nonexistent", TF_CPP_MIN_LOG_LEVEL="0")
    assert result.returncode == 2 and "cuda" in result.stderr.lower()


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_help_loads_no_tensorflow(name):
    """`SUBCOMMAND --help` is a text: it must not pay TensorFlow's seconds of start-up."""
    code = (
        "import sys\n"
        "from mnist_convnet.commands import main\n"
        f"try:\n    main.main(['mnist-convnet', {name!r}, '--help'])\n"
        "except SystemExit as end:\n    assert end.code == 0, end.code\n"
        "heavy = ('tensorflow', 'keras', 'tensorflow_datasets')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert "flags:" in result.stdout


@pytest.mark.parametrize(
    "args, code",
    [
        (["train", "--epochs=0"], 2),  # a value Config refuses
        (["train", "--no_such_flag=1"], 1),  # absl's usage error
        (["train", "--export_dir=/proc/no/such/folder"], 2),  # a result it could not save
        (["export", "--export_dir=/proc/no/such/folder"], 2),  # no checkpoints to export
    ],
)
def test_a_mistyped_command_is_refused_before_tensorflow_loads(args, code):
    """One error line without TensorFlow's seconds of start-up (commands/main.py)."""
    program = (
        "import sys\n"
        "from mnist_convnet.commands import main\n"
        f"try:\n    main.main(['mnist-convnet', *{args!r}])\n"
        "except SystemExit as end:\n    print(end.code)\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    result = run_python("-c", program)
    assert result.stdout.split() == [str(code), "[]"], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("verbosity", [0, 1])
def test_other_librarys_info_passes_only_when_verbosity_asks(monkeypatch, verbosity):
    """absl shows every library's INFO once flags are parsed: at --verbosity=0 only ours
    passes (and everyone's warnings), at 1 everything does."""
    monkeypatch.setattr(flags, "FLAGS", types.SimpleNamespace(verbosity=verbosity))
    handler = absl_logging.get_absl_handler()
    filters = list(handler.filters)
    ours = main.__file__
    theirs = logging.__file__  # any library's file

    def passes(path: str, level: int) -> bool:
        record = logging.LogRecord("x", level, path, 1, "a line", None, None)
        return all(f(record) if callable(f) else f.filter(record) for f in handler.filters)

    try:
        main._only_our_info()
        assert passes(ours, logging.INFO) and passes(theirs, logging.WARNING)
        assert passes(theirs, logging.INFO) == (verbosity > 0)
    finally:
        handler.filters[:] = filters
