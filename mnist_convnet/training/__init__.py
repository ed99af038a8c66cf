"""Training a network: the data, the step, the loop, and runs that survive interruption.

config.py        Config: every training setting, its default and its rules
data.py          MNIST from tensorflow-datasets -> batched tf.data pipelines
augment.py       training batches changed the ways other writers and scanners differ
step.py          one training step: dL/dz = p - y, tape or hand-written backprop
optimizer.py     Adam and the schedules of its step size
checkpoints.py   TrainingState, saving and resuming a run
loop.py          epochs of steps, metrics, TensorBoard: train_and_evaluate
distribute.py    tf.distribute strategies, and which worker does what
interrupt.py     SIGTERM/SIGINT -> checkpoint, then stop
personalize.py   one writer's digits learned by gradient descent, MNIST replayed beside

May import ``network/`` and the package's shared modules (``settings``, ``errors``,
``files``); never export, reading, serving or commands.
"""
