"""``python -m mnist_convnet SUBCOMMAND [--flags]``, the same as ``mnist-convnet``."""

from mnist_convnet.commands.main import main

main()
