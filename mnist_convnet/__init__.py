"""mnist-convnet: the keras.io simple MNIST convnet, trained by a loop you can read.

The package is laid out in the order a training run happens, then what uses its model:

    data.py          MNIST from tensorflow-datasets -> batched tf.data pipelines
    augment.py       training batches changed the ways other writers and scanners differ
    networks.py      the networks' entries: builder, default recipe, max-pooling (no TF)
    deslant.py       each digit sheared upright by its ink's second moments (a layer)
    model.py         the networks (keras.io convnet, LeNet-5, the article's), their logits z
    backprop.py      the article's equations: softmax cross-entropy, every layer backward
    step.py          one training step: dL/dz = p - y, tape or hand-written backprop
    optimizer.py     Adam and the schedules of its step size
    config.py        Config: every training setting, its default and its rules
    settings.py      a setting declared once: default, help, rules (Config, BatchingOptions)
    checkpoints.py   TrainingState, saving and resuming a run
    loop.py          epochs of steps, metrics, TensorBoard: train_and_evaluate
    distribute.py    tf.distribute strategies, and which worker does what
    interrupt.py     SIGTERM/SIGINT -> checkpoint, then stop
    versions.py      TF Serving's version-folder layout: numbers, the latest, complete ones
    export.py        versioned SavedModels in TF Serving's layout
    signatures.py    the SavedModel's serving signatures
    explain.py       one digit forward and back through every layer, for the page's panel
    digit_finder.py  finding digits in photos and scans, in ops TF Lite has too
    contract.py      what the finder promises its callers: limits, frame, statuses
    inference.py     loading SavedModels, .tflite and .keras files as classifiers
    preprocess.py    image files TensorFlow cannot decode, made decodable
    predict.py       digits from image files
    serving/         TF Serving's REST and gRPC APIs, versions, batching, warm-up, metrics
    tflite.py        TF Lite conversion: classifiers and reader.tflite
    lite.py          running .tflite files in LiteRT, as a phone does (no TensorFlow)
    evaluation.py    accuracy, confusion matrix, per-class scores (NumPy only)
    visualize.py     what the network learned, as figures
    plots.py         the matplotlib drawing behind them
    errors.py        UserError: one clear line instead of a traceback
    files.py         files written whole (temp name, then rename), or one clear error
    commands/        the mnist-convnet command line (absl flags live only there)
"""

__version__ = "0.1.0"
