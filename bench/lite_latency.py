"""Milliseconds per frame of reader .tflite files in LiteRT, in a process without TensorFlow.

    python -m bench.lite_latency READER.tflite[,READER2.tflite] IMAGE...

What a phone runs: no TensorFlow in the process (the test of `predict --tflite` checks
that path imports none), one thread, each image decoded and its frame filled beforehand
(as an app's camera callback would), then read once per round after a warm-up round.
Prints one JSON object, {reader name: [ms per call, ...]}. bench/captures.py runs it
between its rounds of serving_images, so both are measured side by side in one run.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mnist_convnet.reading import litert


def main(argv: list[str]) -> None:
    readers = {Path(p).stem: litert.LiteReader(p, num_threads=1) for p in argv[1].split(",")}
    frames = [litert.fill_frame(litert.load_image(p))[:2] for p in argv[2:]]
    times: dict[str, list[float]] = {name: [] for name in readers}
    for name, reader in readers.items():
        for round_ in range(2):  # the first warms up
            for frame, size in frames:
                start = time.perf_counter()
                reader.run("read_digit", frame, size)
                if round_:
                    times[name].append(1000 * (time.perf_counter() - start))
    print(json.dumps(times))


if __name__ == "__main__":
    main(sys.argv)
