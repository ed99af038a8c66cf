"""A SavedModel loaded as TF Serving loads it: a Session over its MetaGraph.

TF Serving's ``SavedModelBundle`` is a session and the MetaGraphDef it was loaded from;
a signature is run by feeding its input tensors and fetching its output tensors by the
names in its SignatureDef. We load the same way (``tf.compat.v1.saved_model.load`` into
a graph of the bundle's own), not with ``tf.saved_model.load``, for what happens when a
version is unloaded while another answers: ``tf.saved_model.load`` rebuilds every function
of the export as a Python graph (~53,000 Python objects for ours, in reference cycles),
and freeing them is one long ``gc.collect`` that holds the GIL, stalling every request in
flight. The session's graph holds the signatures' few hundred nodes in Python; the
functions they call stay in TensorFlow's C++ function library. Measured side by side in
docs/serving.md ("A version's unload, and the requests beside it"): the longest call
beside an unload several times shorter with a session, a warm call as fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.python.util import deprecation

from mnist_convnet.errors import UserError, first_line

# The session's own graph is only the signatures' plumbing (placeholders, a call of each
# signature's function, the variables' restore): Grappler's pass over it took 0.3-0.45 s
# per signature's first run and bought nothing, since the functions it calls are still
# optimised by the function runtime, as tf.saved_model.load's are (warm calls equal;
# docs/serving.md, "A version's unload, and the requests beside it").
_SESSION_CONFIG = config_pb2.ConfigProto()
_SESSION_CONFIG.graph_options.rewrite_options.disable_meta_optimizer = True
# Each version runs its ops on inter-op threads of its own. A signature's first call sets
# its function up (optimisation, kernels) on an inter-op thread, long for the finder's; on
# the process-wide pool (one thread a core) a warm-up's two such calls took every thread,
# and the version still serving waited for them: its requests stalled during a hot swap
# (docs/serving.md). Warm calls are as fast either way.
# (docs/serving.md, "Hot swap, the old version's requests")
_SESSION_CONFIG.use_per_session_threads = True


class SavedModelBundle:
    """One version's session and SignatureDefs (those a client can name: not ``__*``)."""

    def __init__(self, folder: Path) -> None:
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph, config=_SESSION_CONFIG)
        try:
            # The TF1 loader is what TF Serving's C++ loader mirrors; its deprecation
            # notice is about training code, not serving.
            with deprecation.silence():
                meta_graph = tf.compat.v1.saved_model.load(
                    self.session, [tf.saved_model.SERVING], str(folder)
                )
        # A truncated variables file surfaces as an OpError, a foreign file as others.
        except (OSError, ValueError, IndexError, KeyError, RuntimeError, tf.errors.OpError) as e:
            self.session.close()  # else the session closes when the bundle is freed
            raise UserError(f"cannot load SavedModel {folder}: {first_line(e)}") from None
        defs = meta_graph.signature_def
        self.signature_defs = {n: defs[n] for n in sorted(defs) if not n.startswith("__")}
        self._fetches = {
            name: {key: info.name for key, info in d.outputs.items()}
            for name, d in self.signature_defs.items()
        }

    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The signature's outputs by name, for inputs named as in it (checked before)."""
        signature = self.signature_defs[signature_name]
        feed = {signature.inputs[key].name: value for key, value in inputs.items()}
        return self.session.run(self._fetches[signature_name], feed)
