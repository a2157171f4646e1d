r"""``python -m serving.cli``: send support images to a served model, get a PNG grid back.

Reads a folder of images of a new class, sends them to the model's
``adapt_and_generate`` signature over REST or gRPC, and writes the returned
samples as one PNG grid. Needs only numpy, PIL and (for gRPC)
``tensorflow-serving-api``; not tfmeta.

Example:
    python -m serving.cli --server=localhost:8501 --model=mnist_gan \
        --support=my_digit_images/ --num_samples=16 --seed=0 --out=grid.png
    python -m serving.cli --protocol=grpc --server=localhost:8500 --model=mnist_gan \
        --support=my_digit_images/ --out=grid.png
"""

from __future__ import annotations

import sys

from absl import app, flags

flags.DEFINE_string("server", "localhost:8501", "host:port of the server (REST: 8501, gRPC: "
                    "8500 in the TF Serving images).")
flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "How to talk to the server.")
flags.DEFINE_string("model", None, "(required) Model name on the server.", required=True)
flags.DEFINE_integer("version", None, "Model version (default: the server's latest).")
flags.DEFINE_string("support", None, "(required) Folder of images of the new class.",
                    required=True)
flags.DEFINE_string("image_shape", "28,28,1", "HEIGHT,WIDTH,CHANNELS the model takes (see "
                    "assets.extra/tfmeta_export.json of the export); images are resized.")
flags.DEFINE_bool("invert", None, "Negate the images after scaling to [-1, 1] (--invert), or "
                  "keep them (--noinvert). Default: negate them where their background (the "
                  "median of their border) is the opposite of --background.")
flags.DEFINE_enum("background", "dark", ["dark", "light", "any"], "Background of the model's "
                  "training data (the export's assets.extra/tfmeta_export.json says it): "
                  "dark for MNIST, Fashion-MNIST and tfmeta's Omniglot; any turns the check "
                  "off.")
flags.DEFINE_integer("num_samples", 16, "Samples to generate.")
flags.DEFINE_integer("seed", 0, "Request seed: the same images and seed give the same samples.")
flags.DEFINE_string("out", "grid.png", "Output PNG.")
flags.DEFINE_integer("timeout", 120, "Seconds to wait for the answer.")
FLAGS = flags.FLAGS


def make_client(protocol: str, server: str, model: str, version: int | None, timeout: float):
    """A :class:`serving.client.RestClient` or :class:`serving.grpc_client.GrpcClient`."""
    if protocol == "grpc":
        from serving.grpc_client import GrpcClient
        return GrpcClient(server, model, version, timeout=timeout)
    from serving.client import RestClient
    return RestClient(server, model, version, timeout=timeout)


def first_line(error: Exception) -> str:
    """The error's first non-empty line (a server's message may end with graph node lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def main(argv):
    del argv
    from serving.client import ServingError
    from serving.images import matched_support, parse_image_shape, read_support_folder, write_grid
    try:
        support, polarity = matched_support(
            read_support_folder(FLAGS.support, parse_image_shape(FLAGS.image_shape)),
            FLAGS.background, FLAGS.invert)
        client = make_client(FLAGS.protocol, FLAGS.server, FLAGS.model, FLAGS.version,
                             FLAGS.timeout)
        images = client.adapt_and_generate(support, FLAGS.num_samples, FLAGS.seed)
    except (ValueError, FileNotFoundError, ServingError, OSError) as e:
        sys.exit(f"error: {first_line(e)}")
    write_grid(images, FLAGS.out)
    print(f"{len(images)} samples from {len(support)} support images ({polarity}) -> {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
