"""A later TensorFlow program: loads an export and calls every signature, with only TensorFlow.

Run as ``python tf_only_program.py EXPORT_DIR INPUTS.npz OUTPUTS.npz``. Keras and
tfmeta are made unimportable first (as if not installed), so the export must
load and run on TensorFlow alone. Prints a JSON summary.
"""

import sys

for _name in ("keras", "tf_keras", "tfmeta", "export", "serving", "tests"):
    sys.modules[_name] = None   # as if not installed: imports fail, find_spec finds nothing

import json  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(export_dir: str, inputs_path: str, outputs_path: str) -> None:
    model = tf.saved_model.load(export_dir)
    x = np.load(inputs_path)
    support, z = tf.constant(x["support_images"]), tf.constant(x["z"])
    seed, num_samples = tf.constant(x["seed"]), tf.constant(x["num_samples"])
    sig = model.signatures
    out = {"serving_default": sig["serving_default"](z=z)["images"],
           "adapt_and_generate": sig["adapt_and_generate"](
               support_images=support, num_samples=num_samples, seed=seed)["images"],
           "adapt_and_generate_from_z": sig["adapt_and_generate_from_z"](
               support_images=support, z=z, seed=seed)["images"]}
    out.update({f"adapt/{k}": v for k, v in sig["adapt"](support_images=support,
                                                          seed=seed).items()})
    out.update({f"weights/{k}": v for k, v in model.generator_weights.items()})
    try:
        sig["adapt_and_generate"](support_images=support, num_samples=tf.constant(10**6),
                                  seed=seed)
        rejected = None
    except tf.errors.InvalidArgumentError as e:
        rejected = e.message.strip().splitlines()[-2] if "\n" in e.message else e.message
    again = sig["adapt_and_generate"](support_images=support, num_samples=num_samples,
                                      seed=seed)["images"]
    np.savez(outputs_path, **{k: np.asarray(v) for k, v in out.items()})
    print(json.dumps({
        "signatures": sorted(sig),
        "rejected": rejected,
        "same_after_error": bool(np.array_equal(again, out["adapt_and_generate"])),
        "importable": [m for m in ("keras", "tfmeta") if sys.modules.get(m) is not None]}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
