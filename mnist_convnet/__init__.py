"""mnist-convnet: the keras.io simple MNIST convnet, trained by a loop you can read.

Each folder is one part of the program, in the order a run happens and then what uses
its model; each folder's ``__init__`` lists its modules and what it may import:

    network/         the networks and the article's mathematics: forward, backward, explain
    training/        data, augmentation, the step, the loop, checkpoints, distribution
    finder/          a photo, scan or drawing -> MNIST-framed digits, in ops TF Lite has
    export/          versioned SavedModels, their signatures and warm-up, TF Lite files
    reading/         a trained model as one classifier; .tflite in LiteRT; predict
    figures/         evaluation, and what the network learned as pictures
    serving/         TF Serving's REST and gRPC APIs, versions, batching, metrics
    commands/        the mnist-convnet command line (absl flags live only there)

and the few modules every part shares, which import none of them:

    contract.py      what the finder promises its callers: limits, frame, statuses
    settings.py      a setting declared once: default, help, rules (Config, BatchingOptions)
    versions.py      TF Serving's version-folder layout: numbers, the latest, complete ones
    errors.py        UserError: one clear line instead of a traceback
    files.py         files written whole (temp name, then rename), or one clear error
"""

__version__ = "0.1.0"
