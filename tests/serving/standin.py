"""Loopback stand-ins for TF Serving's predict APIs (tests only; the server cannot be installed).

:class:`ModelStore` loads ``BASE/NAME/<version>`` the way the model server does:
one TF1 ``Session`` per version (``tf.compat.v1.saved_model.loader.load`` with
tag ``serve``), signatures run by tensor name from the ``SignatureDef``, the
latest version unless the request names one. Its checks before running mirror
``tensorflow_serving/servables/tensorflow/predict_util.cc``: an unknown signature
is ``FAILED_PRECONDITION``, missing/extra inputs and unknown output filters are
``INVALID_ARGUMENT``. Like the server, it hands a request's tensors to the C++
session as they come (a session callable: no comparison with the declared
shapes, which Python's ``Session.run`` would add). One emulation: the model
server feeds a tensor of another dtype as is and TensorFlow rejects it with
``INVALID_ARGUMENT``; the store raises that error itself.

* :class:`RestStandIn`: ``http.server`` on 127.0.0.1, ``POST
  /v1/models/<name>[/versions/<v>]:predict`` with ``{"signature_name", "inputs"}``
  (columnar; answered ``{"outputs": ...}``) or ``{"instances": [...]}`` (row;
  answered ``{"predictions": [...]}``), one unnamed output returned without its
  name, errors as ``{"error": message}`` with TF Serving's HTTP statuses.
* :class:`GrpcStandIn`: ``PredictionService.Predict`` from
  ``tensorflow-serving-api`` on 127.0.0.1, outputs encoded as the model server
  does by default (typed ``*_val`` fields, not ``tensor_content``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.protobuf import config_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
               "NOT_FOUND": 404, "RESOURCE_EXHAUSTED": 429, "UNIMPLEMENTED": 501,
               "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}
_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")


class ServableError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _code_of(error: tf.errors.OpError) -> str:
    """``InvalidArgumentError`` -> ``"INVALID_ARGUMENT"``."""
    name = type(error).__name__.removesuffix("Error")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


class SessionServable:
    """One SavedModel version in its own graph and session, like a server's SavedModelBundle."""

    def __init__(self, path: str):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], path)
        self.signatures = dict(meta.signature_def)
        self._callables: dict = {}
        self._lock = threading.Lock()

    def input_dtypes(self, signature_name: str) -> dict[str, np.dtype]:
        signature = self._signature(signature_name)
        return {k: tf.dtypes.as_dtype(v.dtype).as_numpy_dtype for k, v in signature.inputs.items()}

    def _signature(self, signature_name: str):
        if signature_name not in self.signatures:
            raise ServableError("FAILED_PRECONDITION",
                                f'Serving signature key "{signature_name}" not found.')
        return self.signatures[signature_name]

    def predict(self, signature_name: str, inputs: dict[str, np.ndarray],
                output_filter=()) -> dict[str, np.ndarray]:
        signature = self._signature(signature_name)
        expected = sorted(signature.inputs)
        if sorted(inputs) != expected:
            raise ServableError(
                "INVALID_ARGUMENT",
                f"input size does not match signature: {len(inputs)}!={len(expected)} "
                f"len({{{','.join(sorted(inputs))}}}) != len({{{','.join(expected)}}}). "
                f"Sent extra: {{{','.join(sorted(set(inputs) - set(expected)))}}}. Missing but "
                f"required: {{{','.join(sorted(set(expected) - set(inputs)))}}}.")
        feeds = {}
        for i, (name, value) in enumerate(sorted(inputs.items())):
            info = signature.inputs[name]
            want = tf.dtypes.as_dtype(info.dtype)
            got = tf.dtypes.as_dtype(np.asarray(value).dtype)
            if got != want:   # emulated: TensorFlow's own check on a fed tensor
                raise ServableError("INVALID_ARGUMENT", f"Expects arg[{i}] to be {want.name} "
                                                        f"but {got.name} is provided")
            feeds[info.name] = value
        aliases = list(output_filter) or sorted(signature.outputs)
        for alias in aliases:
            if alias not in signature.outputs:
                raise ServableError("INVALID_ARGUMENT",
                                    f"output tensor alias not found in signature: {alias}")
        # Run like the model server: the tensors go to the C++ session as they are, not
        # through Python's Session.run, which compares them with the declared shapes first.
        feed_names = sorted(feeds)
        key = (signature_name, tuple(aliases))
        with self._lock:
            if key not in self._callables:
                options = config_pb2.CallableOptions(
                    feed=feed_names, fetch=[signature.outputs[a].name for a in aliases])
                self._callables[key] = self.session._make_callable_from_options(options)
        try:
            values = self._callables[key](*[np.asarray(feeds[n]) for n in feed_names])
        except tf.errors.OpError as e:
            raise ServableError(_code_of(e), e.message) from None
        return dict(zip(aliases, values))


class ModelStore:
    """The models under an export base, loaded on first use, latest version by default.

    Stand-ins of one base share its store (:func:`shared_store`), as TF Serving's REST and
    gRPC ports answer from the same loaded models.
    """

    def __init__(self, base: str):
        self.base = base
        self._loaded: dict[tuple[str, int], SessionServable] = {}
        self._lock = threading.Lock()

    def get(self, name: str, version: int | None = None) -> tuple[int, SessionServable]:
        folder = os.path.join(self.base, name)
        versions = sorted(int(v) for v in os.listdir(folder) if v.isdigit()) \
            if os.path.isdir(folder) else []
        if version is None:
            if not versions:
                raise ServableError("NOT_FOUND", f"Servable not found for request: Latest({name})")
            version = versions[-1]
        elif version not in versions:
            raise ServableError("NOT_FOUND",
                                f"Servable not found for request: Specific({name}, {version})")
        with self._lock:
            key = (name, version)
            if key not in self._loaded:
                self._loaded[key] = SessionServable(os.path.join(folder, str(version)))
            return version, self._loaded[key]


@functools.lru_cache(maxsize=None)
def shared_store(base: str) -> ModelStore:
    """The one :class:`ModelStore` of ``base`` (an absolute path) in this process."""
    return ModelStore(base)


# -- REST ----------------------------------------------------------------------------------


def _from_json(value, dtype: np.dtype, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError:
        raise ServableError("INVALID_ARGUMENT", f"input {name} is a ragged list") from None
    if array.dtype == object or array.dtype.kind not in "iufb":
        raise ServableError("INVALID_ARGUMENT", f"input {name} holds non-numeric values")
    if np.dtype(dtype).kind in "iu" and array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise ServableError("INVALID_ARGUMENT",
                                f"input {name}: JSON value is not a {np.dtype(dtype).name}")
    return array.astype(dtype)


def _to_json(array: np.ndarray):
    array = np.asarray(array)
    return array.astype(np.float64).tolist() if array.dtype.kind == "f" else array.tolist()


def rest_predict(store: ModelStore, name: str, version: int | None, body: dict) -> dict:
    """The REST predict API's answer to ``body`` (raises ServableError)."""
    signature_name = body.get("signature_name", "serving_default")
    _, servable = store.get(name, version)
    dtypes = servable.input_dtypes(signature_name)
    if ("inputs" in body) == ("instances" in body):
        raise ServableError("INVALID_ARGUMENT",
                            "Missing 'inputs' or 'instances' key (exactly one is needed)")
    if "inputs" in body:
        raw = body["inputs"]
        if not isinstance(raw, dict):
            if len(dtypes) != 1:
                raise ServableError("INVALID_ARGUMENT", "unnamed 'inputs' need a signature "
                                                        "with one input")
            raw = {next(iter(dtypes)): raw}
        inputs = {k: _from_json(v, dtypes.get(k, np.float32), k) for k, v in raw.items()}
        outputs = servable.predict(signature_name, inputs)
        if len(outputs) == 1:
            return {"outputs": _to_json(next(iter(outputs.values())))}
        return {"outputs": {k: _to_json(v) for k, v in outputs.items()}}
    rows = body["instances"]
    if not isinstance(rows, list) or not rows:
        raise ServableError("INVALID_ARGUMENT", "'instances' must be a non-empty list")
    if all(isinstance(r, dict) for r in rows):
        columns = {k: [r.get(k) for r in rows] for k in rows[0]}
    elif len(dtypes) == 1:
        columns = {next(iter(dtypes)): rows}
    else:
        raise ServableError("INVALID_ARGUMENT", "instances must be objects naming every input")
    inputs = {k: _from_json(v, dtypes.get(k, np.float32), k) for k, v in columns.items()}
    outputs = servable.predict(signature_name, inputs)
    if len(outputs) == 1:
        return {"predictions": _to_json(next(iter(outputs.values())))}
    n = len(rows)
    return {"predictions": [{k: _to_json(v[i]) for k, v in outputs.items()} for i in range(n)]}


class RestStandIn:
    """The REST predict API on ``127.0.0.1:<ephemeral port>``; ``url`` after ``start``."""

    def __init__(self, base: str):
        store = shared_store(os.path.abspath(base))

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                del args

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                match = _PATH.match(self.path)
                if not match:
                    return self._reply(404, {"error": f"Malformed request: POST {self.path}"})
                name, version = match.group(1), match.group(2)
                try:
                    length = int(self.headers.get("Content-Length", 0))
                    try:
                        body = json.loads(self.rfile.read(length))
                    except ValueError as e:
                        raise ServableError("INVALID_ARGUMENT", f"JSON Parse error: {e}") from None
                    answer = rest_predict(store, name, int(version) if version else None, body)
                except ServableError as e:
                    return self._reply(HTTP_STATUS.get(e.code, 500), {"error": e.message})
                return self._reply(200, answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "RestStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- gRPC ----------------------------------------------------------------------------------

_VALUE_FIELDS = {np.dtype(np.float32): "float_val", np.dtype(np.float64): "double_val",
                 np.dtype(np.int32): "int_val", np.dtype(np.int64): "int64_val"}


def as_proto_field(array: np.ndarray) -> tensor_pb2.TensorProto:
    """Like the model server's ``Tensor::AsProtoField``: values in the typed field."""
    array = np.asarray(array)
    proto = tensor_pb2.TensorProto(dtype=tf.as_dtype(array.dtype).as_datatype_enum,
                                   tensor_shape=tf.TensorShape(array.shape).as_proto())
    getattr(proto, _VALUE_FIELDS[array.dtype]).extend(array.ravel().tolist())
    return proto


class _Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, store: ModelStore):
        self.store = store

    def Predict(self, request, context):
        spec = request.model_spec
        signature_name = spec.signature_name or "serving_default"
        try:
            version, servable = self.store.get(
                spec.name, spec.version.value if spec.HasField("version") else None)
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            outputs = servable.predict(signature_name, inputs, list(request.output_filter))
        except ServableError as e:
            context.abort(getattr(grpc.StatusCode, e.code, grpc.StatusCode.UNKNOWN), e.message)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = spec.name
        response.model_spec.signature_name = signature_name
        response.model_spec.version.value = version
        for alias, value in outputs.items():
            response.outputs[alias].CopyFrom(as_proto_field(value))
        return response


class GrpcStandIn:
    """``PredictionService`` on ``127.0.0.1:<ephemeral port>``; ``target`` after ``start``."""

    def __init__(self, base: str, workers: int = 8):
        size = 256 * 1024 * 1024
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=[
            ("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)])
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _Servicer(shared_store(os.path.abspath(base))), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> "GrpcStandIn":
        self._server.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.stop(grace=None)
