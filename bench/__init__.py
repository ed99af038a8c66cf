"""Benchmarks: ``make bench`` (training speed, time to accuracy) and ``make bench-captures``.

Each one is run as ``python -m bench.<name>``; importing this package first keeps
TensorFlow's C++ start-up chatter out of their output, as the console script does.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
