"""FLOPs of training one image, counted from the model's layers, and this CPU's FP32 peak.

Counting (one multiply-add = 2 FLOPs; activations, pooling, softmax and the optimizer
are left out — they are a few percent at most):

    Conv2D  forward  2 · H_out · W_out · K_h · K_w · C_in · C_out
    Dense   forward  2 · N_in · N_out
    training = forward + backward; the backward pass of a layer costs two forwards
    (∂L/∂input and ∂L/∂weights, eq. 9), except the first layer, which needs no ∂L/∂input:
        training FLOPs = 3 · Σ forward − forward(first layer)

Peak: cores × FMA units per core × FP32 lanes per vector × 2 FLOPs per FMA × clock.
We read the lanes from the CPU flags (AVX-512: 16, AVX2: 8, SSE: 4), the cores from
``os.cpu_count()`` and the clock from /proc/cpuinfo ("cpu MHz", the current clock);
we *assume* 2 FMA units per core, as on every AMD Zen and Intel core since Haswell.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the counts need a model; the peak, which `bench.run` asks for, does not
    import keras

FMA_UNITS_PER_CORE = 2


def forward_flops(model: keras.Model) -> list[tuple[str, int]]:
    """Forward FLOPs per image of each Conv2D and Dense layer, in order."""
    import keras  # here, not at the top: `bench.run` starts no TensorFlow of its own

    counts = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k_h, k_w, c_in, _ = layer.kernel.shape
            counts.append((layer.name, 2 * h * w * k_h * k_w * c_in * c_out))
        elif isinstance(layer, keras.layers.Dense):
            n_in, n_out = layer.kernel.shape
            counts.append((layer.name, 2 * n_in * n_out))
    return counts


def training_flops_per_image(model: keras.Model) -> int:
    """3 × forward, minus the input gradient the first layer does not need."""
    counts = [flops for _, flops in forward_flops(model)]
    return 3 * sum(counts) - counts[0]


def cpu_peak_gflops() -> dict:
    """FP32 peak of this machine and how it was worked out."""
    text = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    flags = set(re.search(r"^flags\s*:(.*)$", text, re.M).group(1).split()) if text else set()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma = 2 if "fma" in flags or "avx512f" in flags else 1  # FLOPs per lane per instruction
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)]
    ghz = (sum(mhz) / len(mhz) / 1000) if mhz else float("nan")
    cores = os.cpu_count() or 1
    peak = cores * FMA_UNITS_PER_CORE * lanes * fma * ghz
    return {
        "cores": cores,
        "fp32_lanes": lanes,
        "flops_per_lane_per_instruction": fma,
        "fma_units_per_core_assumed": FMA_UNITS_PER_CORE,
        "clock_ghz": round(ghz, 3),
        "peak_gflops": round(peak, 1),
        "formula": "cores x FMA units x FP32 lanes x 2 (FMA) x GHz",
    }
