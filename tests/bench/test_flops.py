"""bench/flops.py: the FLOPs `make bench` divides by, counted as its docstring says."""

from __future__ import annotations

import pytest

from bench import flops
from mnist_convnet.network import model


def test_the_keras_convnets_flops_are_the_hand_count():
    # conv 3x3, 1 -> 32 on 26x26; conv 3x3, 32 -> 64 on 11x11; dense 1,600 -> 10
    forward = [2 * 26 * 26 * 9 * 1 * 32, 2 * 11 * 11 * 9 * 32 * 64, 2 * 1600 * 10]
    network = model.build_model()
    assert [count for _, count in flops.forward_flops(network)] == forward
    assert flops.training_flops_per_image(network) == 3 * sum(forward) - forward[0]


def test_the_peak_is_worked_out_from_this_cpu():
    peak = flops.cpu_peak_gflops()
    cpuinfo = open("/proc/cpuinfo").read()
    assert peak["fp32_lanes"] == (16 if "avx512f" in cpuinfo else 8 if "avx2" in cpuinfo else 4)
    per_clock = peak["cores"] * 2 * peak["fp32_lanes"] * peak["flops_per_lane_per_instruction"]
    # clock_ghz is rounded to 1 MHz, hence the tolerance
    assert peak["peak_gflops"] == pytest.approx(per_clock * peak["clock_ghz"], rel=1e-3)
    assert peak["peak_gflops"] > 0
