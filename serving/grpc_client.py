"""gRPC client of TF Serving's ``PredictionService`` for tfmeta exports (no tfmeta).

Uses the protos and stubs of ``tensorflow-serving-api`` (``pip install
tensorflow-serving-api``, or ``pip install -e ".[serving]"``); that package
imports TensorFlow for its protos, but nothing here calls TensorFlow: tensors
are converted to and from ``TensorProto`` with numpy (``tensor_content`` when
sending; ``tensor_content`` or the typed ``*_val`` fields, as TF Serving sends
them, when reading).

Example:
    >>> client = GrpcClient("localhost:8500", "mnist_gan")
    >>> images = client.adapt_and_generate(support, num_samples=16, seed=0)
"""

from __future__ import annotations

from typing import Any, Mapping

import grpc
import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.client import ServingError, UnreachableError

_DTYPES = {np.dtype(np.float32): types_pb2.DT_FLOAT, np.dtype(np.float64): types_pb2.DT_DOUBLE,
           np.dtype(np.int32): types_pb2.DT_INT32, np.dtype(np.int64): types_pb2.DT_INT64,
           np.dtype(np.uint8): types_pb2.DT_UINT8, np.dtype(np.bool_): types_pb2.DT_BOOL}
_NUMPY = {v: k for k, v in _DTYPES.items()}
_VALUE_FIELDS = {types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val",
                 types_pb2.DT_INT32: "int_val", types_pb2.DT_UINT8: "int_val",
                 types_pb2.DT_INT64: "int64_val", types_pb2.DT_BOOL: "bool_val"}


def to_tensor_proto(value: Any) -> tensor_pb2.TensorProto:
    """A numpy array (float32/64, int32/64, uint8, bool) as a ``TensorProto``."""
    array = np.asarray(value)
    if array.dtype not in _DTYPES:
        raise TypeError(f"cannot send a {array.dtype} array; cast it to float32 or int32")
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in array.shape])
    return tensor_pb2.TensorProto(dtype=_DTYPES[array.dtype], tensor_shape=shape,
                                  tensor_content=np.ascontiguousarray(array).tobytes())


def from_tensor_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """A ``TensorProto`` as a numpy array (either encoding)."""
    if proto.dtype not in _NUMPY:
        raise TypeError(f"cannot read a tensor of dtype {types_pb2.DataType.Name(proto.dtype)}")
    dtype = _NUMPY[proto.dtype]
    shape = [d.size for d in proto.tensor_shape.dim]
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype).reshape(shape).copy()
    values = np.asarray(getattr(proto, _VALUE_FIELDS[proto.dtype]), dtype)
    size = int(np.prod(shape, dtype=np.int64))
    if values.size == size:
        return values.reshape(shape)
    if values.size == 1:            # a repeated value is sent once
        return np.full(shape, values[0], dtype)
    if values.size == 0:
        return np.zeros(shape, dtype)
    raise ValueError(f"tensor of shape {shape} holds {values.size} values")


def _unreachable(error: grpc.RpcError) -> bool:
    """True when gRPC found no server (as opposed to a server's UNAVAILABLE answer)."""
    details = (error.details() or "").lower()
    return (error.code() == grpc.StatusCode.UNAVAILABLE
            and any(s in details for s in ("connect", "dns resolution", "unreachable")))


def _connect_reason(error: grpc.RpcError) -> str:
    details = (error.details() or "").lower()
    for needle, reason in (("connection refused", "connection refused"),
                           ("dns resolution", "unknown host"), ("timed out", "timed out")):
        if needle in details:
            return reason
    return (error.details() or "unavailable").splitlines()[0]


class GrpcClient:
    """A model served by TF Serving, over gRPC (``PredictionService.Predict``).

    Args:
      target: ``host:port`` of the gRPC port (8500 by default in the TF Serving images).
      model: the model name.
      version: a version number, or None for the server's choice (the latest).
      timeout: seconds per request.
      max_message_mb: largest request or response (gRPC's default of 4 MiB is too
        small for large support sets or many samples).
    """

    def __init__(self, target: str, model: str, version: int | None = None,
                 timeout: float = 120.0, max_message_mb: int = 256):
        size = max_message_mb * 1024 * 1024
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)])
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self.target, self.model, self.version, self.timeout = target, model, version, timeout

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "GrpcClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def predict(self, inputs: Mapping[str, Any],
                signature_name: str = "serving_default") -> dict[str, np.ndarray]:
        """Runs a signature; returns ``{output name: array}``."""
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.model_spec.signature_name = signature_name
        if self.version is not None:
            request.model_spec.version.value = int(self.version)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(to_tensor_proto(value))
        try:
            response = self._stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as e:
            if _unreachable(e):
                raise UnreachableError(f"{self.target} over gRPC", _connect_reason(e)) from None
            raise ServingError(e.code().name, e.details()) from None
        return {k: from_tensor_proto(v) for k, v in response.outputs.items()}

    def generate(self, z: np.ndarray) -> np.ndarray:
        """``serving_default``: images from latents ``z [m, latent_dim]``."""
        return self.predict({"z": np.asarray(z, np.float32)})["images"]

    def adapt_and_generate(self, support_images: np.ndarray, num_samples: int,
                           seed: int = 0) -> np.ndarray:
        """Adapts on ``support_images [n, H, W, C]`` in [-1, 1]; returns ``num_samples`` images."""
        return self.predict({"support_images": np.asarray(support_images, np.float32),
                             "num_samples": np.int32(num_samples), "seed": np.int32(seed)},
                            "adapt_and_generate")["images"]

    def adapt(self, support_images: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
        """The adapted generator weights, by name."""
        return self.predict({"support_images": np.asarray(support_images, np.float32),
                             "seed": np.int32(seed)}, "adapt")
