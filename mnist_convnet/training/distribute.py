"""Which ``tf.distribute.Strategy`` the loop runs under (``--strategy``), and who writes files.

    default       one device: TensorFlow's default strategy (no replicas to sync)
    mirrored      MirroredStrategy: one replica per local GPU, or per logical CPU device
                  (``--logical_cpus=N`` splits this machine's CPU into N, to try it here)
    multi_worker  MultiWorkerMirroredStrategy: one process per machine, each told the
                  cluster and its own place in it by the TF_CONFIG environment variable

The loop itself is the same under all three (``strategy.run`` per step, metrics summed
across replicas, the dataset split with ``experimental_distribute_dataset``). With several
workers every one of them trains and checkpoints (saving is a collective step), but only
the chief's checkpoints are kept and only the chief exports. Every such "which worker
does what" decision is made here: ``is_chief``, ``should_export``, ``writable_checkpoint_dir``,
``release_checkpoint_dir``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import tensorflow as tf

from mnist_convnet.errors import UserError

STRATEGIES = ("default", "mirrored", "multi_worker")


def split_cpu(count: int) -> None:
    """Presents the CPU as ``count`` logical devices; must run before TensorFlow starts."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count
        )
    except RuntimeError as error:  # TensorFlow already initialised its devices
        raise UserError(f"--logical_cpus must be set before TensorFlow starts: {error}") from None


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy called ``name`` (one of ``STRATEGIES``)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        # One CPU device has nothing to all-reduce with; NCCL is for GPUs only.
        ops = None if gpus else tf.distribute.ReductionToOneDevice()
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=ops)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise UserError("--strategy=multi_worker needs TF_CONFIG (see the README)")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as error:
            raise UserError(f"TF_CONFIG is not valid JSON: {error}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise UserError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the one process that keeps checkpoints and exports (every single-process run)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def writable_checkpoint_dir(strategy: tf.distribute.Strategy, checkpoint_dir: str) -> str:
    """Where this process writes checkpoints: the real folder on the chief, a scratch folder
    on other workers (they must take part in saving, but their copies are thrown away)."""
    if is_chief(strategy):
        return checkpoint_dir
    return tempfile.mkdtemp(prefix=f"worker-{strategy.cluster_resolver.task_id}-ckpt-")


def release_checkpoint_dir(strategy: tf.distribute.Strategy, directory: str) -> None:
    """After training: deletes a non-chief's scratch checkpoints; the chief's stay."""
    if not is_chief(strategy):
        shutil.rmtree(directory, ignore_errors=True)


def should_export(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the SavedModel: only the chief (the other workers
    trained the same weights)."""
    return is_chief(strategy)
