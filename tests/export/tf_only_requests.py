"""A later TensorFlow program: sends named requests to an export's signatures, with only TensorFlow.

Run as ``python tf_only_requests.py EXPORT_DIR REQUESTS.npz OUTPUTS.npz``. The
requests file holds ``NAME:SIGNATURE:ARGUMENT`` arrays, one request per
``NAME``. Keras and tfmeta are made unimportable first (as if not installed).
Saves each answered request's outputs as ``NAME:OUTPUT`` and prints one JSON
line: the signatures, what was importable, and for each refused request the
line of its InvalidArgumentError that states the rule.
"""

import sys

for _name in ("keras", "tf_keras", "tfmeta", "export", "serving", "tests"):
    sys.modules[_name] = None   # as if not installed: imports fail, find_spec finds nothing

import json  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(export_dir: str, requests_path: str, outputs_path: str) -> None:
    model = tf.saved_model.load(export_dir)
    requests: dict = {}
    for key, value in np.load(requests_path).items():
        name, signature, argument = key.split(":")
        requests.setdefault((name, signature), {})[argument] = tf.constant(value)
    outputs, refused = {}, {}
    for (name, signature), inputs in requests.items():
        try:
            answer = model.signatures[signature](**inputs)
        except tf.errors.InvalidArgumentError as e:
            refused[name] = [line.strip() for line in e.message.splitlines()
                             if "assertion failed" in line]
            continue
        outputs.update({f"{name}:{k}": np.asarray(v) for k, v in answer.items()})
    np.savez(outputs_path, **outputs)
    print(json.dumps({"signatures": sorted(model.signatures), "refused": refused,
                      "importable": [m for m in ("keras", "tfmeta")
                                     if sys.modules.get(m) is not None]}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
