"""The REST and gRPC clients and the CLI against loopback stand-ins of TF Serving's predict APIs."""

import ast
import concurrent.futures
import os
import socket
import subprocess
import sys

import numpy as np
import tensorflow as tf
from absl.testing import absltest
from google.protobuf import text_format
from PIL import Image
from tensorflow_serving.config import model_server_config_pb2

from serving import images as image_io
from serving.client import RestClient, ServingError, UnreachableError
from serving.grpc_client import GrpcClient, from_tensor_proto, to_tensor_proto
from serving.models_config import write_models_config
from tests.export import fixtures
from tests.export.bad_inputs_test import SERVER_BAD_REQUESTS, request
from tests.serving.standin import GrpcStandIn, RestStandIn

SERVING_DIR = os.path.join(fixtures.ROOT, "serving")


def serving_base() -> str:
    """A base with the meta-learned export as ``mnist_gan`` and the adapted one as ``my_seven``."""
    base = os.path.join(fixtures.TMP, "serving_base")
    if not os.path.isdir(base):
        os.makedirs(base)
        os.symlink(os.path.dirname(fixtures.exported("maml")), os.path.join(base, "mnist_gan"))
        os.symlink(os.path.dirname(fixtures.adapted_export()[0]),
                   os.path.join(base, "my_seven"))
    return base


def expected(signature, **inputs):
    out = fixtures.loaded("maml").signatures[signature](
        **{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in out.items()}


class _ServerTest(absltest.TestCase):
    standin = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = cls.standin(serving_base()).__enter__()
        cls.support = fixtures.support_images(7)
        cls.z = np.random.default_rng(1).standard_normal([3, 16]).astype(np.float32)

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        super().tearDownClass()

    def client(self, model="mnist_gan", version=None):
        raise NotImplementedError

    def test_adapt_and_generate_answers_like_the_loaded_model(self):
        got = self.client().adapt_and_generate(self.support, num_samples=5, seed=9)
        want = expected("adapt_and_generate", support_images=self.support,
                        num_samples=np.int32(5), seed=np.int32(9))["images"]
        self.assertEqual(got.shape, (5, 28, 28, 1))
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)

    def test_generate_and_adapt_answer_like_the_loaded_model(self):
        client = self.client(version=1)
        np.testing.assert_allclose(client.generate(self.z),
                                   expected("serving_default", z=self.z)["images"],
                                   atol=1e-5, rtol=0)
        weights = client.adapt(self.support, seed=2)
        want = expected("adapt", support_images=self.support, seed=np.int32(2))
        self.assertEqual(sorted(weights), sorted(want))
        for name, value in want.items():
            np.testing.assert_allclose(weights[name], value, atol=1e-6, rtol=0, err_msg=name)

    def test_adapted_model_serves_its_frozen_generator(self):
        got = self.client("my_seven").generate(self.z)
        want = tf.saved_model.load(fixtures.adapted_export()[0]).signatures["serving_default"](
            z=tf.constant(self.z))["images"].numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)

    def test_unknown_model_version_and_signature_are_refused(self):
        with self.assertRaisesRegex(ServingError, "NOT_FOUND.*Latest\\(nope\\)"):
            self.client("nope").generate(self.z)
        with self.assertRaisesRegex(ServingError, "NOT_FOUND.*Specific\\(mnist_gan, 9\\)"):
            self.client(version=9).generate(self.z)
        with self.assertRaisesRegex(ServingError, 'Serving signature key "nope" not found'):
            self.client().predict({"z": self.z}, "nope")
        with self.assertRaisesRegex(ServingError, "INVALID_ARGUMENT: input size does not "
                                                  "match signature.*Missing but required: "
                                                  "\\{seed\\}"):
            self.client().predict({"support_images": self.support, "num_samples": 2},
                                  "adapt_and_generate")


class RestClientTest(_ServerTest):
    standin = RestStandIn

    def client(self, model="mnist_gan", version=None):
        return RestClient(self.server.url, model, version)

    def test_row_format_instances_are_answered_as_predictions(self):
        predictions = self.client().predict_instances(list(self.z))
        np.testing.assert_allclose(np.asarray(predictions, np.float32),
                                   expected("serving_default", z=self.z)["images"],
                                   atol=1e-5, rtol=0)

    def test_every_bad_request_is_a_400_invalid_argument_and_serving_goes_on(self):
        client = self.client()
        for signature, changes, message in SERVER_BAD_REQUESTS:
            inputs = request(signature, changes)
            good = request(signature, {})
            if any(np.asarray(inputs[k]).dtype != np.asarray(good[k]).dtype
                   or np.size(inputs[k]) == 0 for k in inputs):
                # JSON carries no dtypes (the server converts to the signature's), and an
                # empty list has no shape: [] is sent as shape [0] (refused for its rank).
                continue
            with self.assertRaisesRegex(ServingError, message) as caught:
                client.predict(inputs, signature)
            self.assertEqual((caught.exception.http_status, caught.exception.code),
                             (400, "INVALID_ARGUMENT"))
        with self.assertRaisesRegex(ServingError, "not a int32"):
            client.predict(dict(request("adapt_and_generate", {}), num_samples=4.5),
                           "adapt_and_generate")
        self.test_adapt_and_generate_answers_like_the_loaded_model()


class GrpcClientTest(_ServerTest):
    standin = GrpcStandIn

    def client(self, model="mnist_gan", version=None):
        return GrpcClient(self.server.target, model, version)

    def test_every_bad_request_is_invalid_argument_and_serving_goes_on(self):
        with self.client() as client:
            for signature, changes, message in SERVER_BAD_REQUESTS:
                if "float" == message or "int32" == message:
                    message = "Expects arg\\[\\d\\] to be"      # the runtime's dtype check
                with self.assertRaisesRegex(ServingError, message) as caught:
                    client.predict(request(signature, changes), signature)
                self.assertEqual(caught.exception.code, "INVALID_ARGUMENT")
        self.test_adapt_and_generate_answers_like_the_loaded_model()

    def test_concurrent_requests_answer_like_sequential_ones(self):
        client = self.client()
        requests = [(fixtures.support_images(2 + i, offset=i), 1 + i % 3, i) for i in range(8)]
        alone = [client.adapt_and_generate(*r) for r in requests]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            together = list(pool.map(lambda r: client.adapt_and_generate(*r), requests))
        for a, b in zip(alone, together):
            np.testing.assert_array_equal(a, b)

    def test_tensor_protos_round_trip_in_both_encodings(self):
        from tests.serving.standin import as_proto_field
        for value in (np.arange(6, dtype=np.float32).reshape(2, 3), np.int32(7),
                      np.zeros([0, 2], np.float32), np.array([[1, 2]], np.int64)):
            for proto in (to_tensor_proto(value), as_proto_field(value)):
                back = from_tensor_proto(proto)
                self.assertEqual(back.dtype, value.dtype)
                np.testing.assert_array_equal(back, value)
        np.testing.assert_array_equal(from_tensor_proto(tf.make_tensor_proto(value)), value)


class CommandLineTest(absltest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.folder = fixtures.adapted_export()[1]

    def _cli(self, *args, check=True):
        # tfmeta and export are made unimportable: the client must not need them.
        code = ("import runpy, sys; sys.modules['tfmeta'] = sys.modules['export'] = None; "
                "sys.argv = ['serving.cli'] + sys.argv[1:]; "
                "runpy.run_module('serving.cli', run_name='__main__', alter_sys=True)")
        command = [sys.executable, "-c", code, *args]
        if check:
            return fixtures.run_checked(command)
        return subprocess.run(command, cwd=fixtures.ROOT, env=fixtures.quiet_env(),
                              capture_output=True, text=True, timeout=300)

    def _check_grid(self, path, seed, num_samples):
        support = image_io.read_support_folder(self.folder, fixtures.IMAGE_SHAPE)
        want = expected("adapt_and_generate", support_images=support,
                        num_samples=np.int32(num_samples), seed=np.int32(seed))["images"]
        got = np.asarray(Image.open(path).convert("RGB")).astype(int)
        self.assertEqual(got.shape, image_io.grid(want).shape)
        self.assertLessEqual(np.abs(got - image_io.grid(want).astype(int)).max(), 1)

    def test_cli_sends_a_folder_and_writes_the_grid_over_rest_and_grpc(self):
        out_dir = os.path.join(fixtures.TMP, "cli")
        with RestStandIn(serving_base()) as rest, GrpcStandIn(serving_base()) as grpc_server:
            for protocol, server in (("rest", rest.url), ("grpc", grpc_server.target)):
                out = os.path.join(out_dir, f"{protocol}.png")
                proc = self._cli(f"--server={server}", f"--protocol={protocol}",
                                 "--model=mnist_gan", f"--support={self.folder}",
                                 "--num_samples=16", "--seed=4", f"--out={out}")
                self.assertIn("16 samples from 6 support images", proc.stdout)
                self._check_grid(out, 4, 16)
            bad = self._cli(f"--server={rest.url}", "--model=mnist_gan",
                            f"--support={self.folder}", "--num_samples=1000",
                            f"--out={out_dir}/bad.png", check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("error: INVALID_ARGUMENT", bad.stderr)
        self.assertIn("num_samples must be in [1, 64]", bad.stderr)
        self.assertFalse(os.path.exists(os.path.join(out_dir, "bad.png")))

    def test_clients_import_neither_tfmeta_nor_export(self):
        for name in sorted(os.listdir(SERVING_DIR)):
            if not name.endswith(".py"):
                continue
            with open(os.path.join(SERVING_DIR, name)) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                           else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                for module in modules:
                    self.assertNotIn(module.split(".")[0], ("tfmeta", "export", "trainers"),
                                     f"serving/{name} imports {module}")

    def test_models_config_lists_every_model_in_tf_serving_text_format(self):
        base = serving_base()
        proc = fixtures.run_checked([sys.executable, "-m", "serving.models_config",
                                     f"--base={base}", "--container_base=/models"])
        path = proc.stdout.strip().splitlines()[-1]
        self.assertEqual(path, os.path.join(base, "models.config"))
        with open(path) as f:
            config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
        listed = [(c.name, c.base_path, c.model_platform)
                  for c in config.model_config_list.config]
        self.assertEqual(listed, [("mnist_gan", "/models/mnist_gan", "tensorflow"),
                                  ("my_seven", "/models/my_seven", "tensorflow")])
        here = write_models_config(base, os.path.join(fixtures.TMP, "local.config"))
        with open(here) as f:
            self.assertIn(f'base_path: "{os.path.join(os.path.abspath(base), "my_seven")}"',
                          f.read())
        with self.assertRaisesRegex(ValueError, "model name"):
            write_models_config(base, os.path.join(fixtures.TMP, "x.config"),
                                names=['bad"name'])


def closed_port() -> int:
    """A localhost port nobody listens on (taken from the OS, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UnreachableServerTest(absltest.TestCase):

    def test_clients_name_the_server_they_cannot_reach(self):
        port = closed_port()
        z = np.zeros([1, 16], np.float32)
        with self.assertRaises(UnreachableError) as caught:
            RestClient(f"localhost:{port}", "mnist_gan").generate(z)
        self.assertEqual(str(caught.exception), f"cannot reach TF Serving at "
                         f"http://localhost:{port} (connection refused); is it running?")
        self.assertEqual(caught.exception.code, "UNAVAILABLE")
        with GrpcClient(f"localhost:{port}", "mnist_gan", timeout=60) as client:
            with self.assertRaises(UnreachableError) as caught:
                client.generate(z)
        self.assertEqual(str(caught.exception), f"cannot reach TF Serving at localhost:{port} "
                                                "over gRPC (connection refused); is it running?")

    def test_cli_says_in_one_line_which_server_it_cannot_reach(self):
        # Its main in this process (the CLI as a process, without tfmeta: CommandLineTest).
        port = closed_port()
        folder = fixtures.write_png_folder(fixtures.support_images(2),
                                           os.path.join(fixtures.TMP, "unreachable_support"))
        for protocol, server in (("rest", f"http://localhost:{port}"),
                                 ("grpc", f"localhost:{port} over gRPC")):
            code, out = fixtures.run_cli("serving.cli", f"--server=localhost:{port}",
                                         f"--protocol={protocol}", "--model=mnist_gan",
                                         f"--support={folder}", f"--out={folder}/grid.png")
            self.assertEqual((code, out), (f"error: cannot reach TF Serving at {server} "
                                           "(connection refused); is it running?", ""))
        self.assertFalse(os.path.exists(os.path.join(folder, "grid.png")))


del _ServerTest   # only its subclasses run

if __name__ == "__main__":
    absltest.main()
