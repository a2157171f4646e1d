"""REST client of TF Serving's predict API for tfmeta exports (stdlib + numpy; no tfmeta).

Speaks the documented REST API of TensorFlow Serving
(``POST /v1/models/<name>[/versions/<v>]:predict``) in the columnar format::

    {"signature_name": "adapt_and_generate",
     "inputs": {"support_images": [[[[...]]]], "num_samples": 16, "seed": 0}}

and reads ``{"outputs": ...}`` (one unnamed output, or an object of named
outputs) or ``{"error": "..."}``.

Example:
    >>> client = RestClient("http://localhost:8501", "mnist_gan")
    >>> images = client.adapt_and_generate(support, num_samples=16, seed=0)  # [16, H, W, C]
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any, Mapping

import numpy as np

# TF Serving's REST front end answers an error with {"error": message} and an HTTP status
# chosen by its canonical code (tensorflow_serving/model_servers/http_server.cc). 400 also
# covers FAILED_PRECONDITION and OUT_OF_RANGE, which REST cannot tell apart.
_HTTP_TO_CODE = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
                 500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE",
                 504: "DEADLINE_EXCEEDED"}


class ServingError(Exception):
    """The server answered a request with an error.

    Attributes:
      code: the canonical error code name, e.g. ``"INVALID_ARGUMENT"``.
      message: the server's message.
      http_status: the HTTP status (REST only).
    """

    def __init__(self, code: str, message: str, http_status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.http_status = code, message, http_status


class UnreachableError(ServingError):
    """No server answered at the address (not running, wrong host or port, timed out).

    Its message is one line naming the server, e.g. ``cannot reach TF Serving at
    http://localhost:8501 (connection refused); is it running?``; ``code`` is
    ``"UNAVAILABLE"``.
    """

    def __init__(self, server: str, reason: str):
        message = f"cannot reach TF Serving at {server} ({reason}); is it running?"
        Exception.__init__(self, message)
        self.code, self.message, self.http_status = "UNAVAILABLE", message, None


def _reason(error: BaseException) -> str:
    """A short lower-case reason of a failed connection: "connection refused", "timed out"."""
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return "unknown host"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text[:1].lower() + text[1:]


def _json_value(value: Any) -> Any:
    array = np.asarray(value)
    if array.dtype.kind == "f":
        # float32 -> Python float is exact, and JSON keeps every digit of it.
        return array.astype(np.float64).tolist()
    if array.dtype.kind in "iub":
        return array.tolist()
    raise TypeError(f"cannot send a {array.dtype} array over REST")


def _base_url(server: str) -> str:
    server = server.rstrip("/")
    return server if "://" in server else f"http://{server}"


class RestClient:
    """A model served by TF Serving, over HTTP/JSON.

    Args:
      server: ``host:port`` or ``http://host:port`` of the REST port (8501 by default
        in the TF Serving images).
      model: the model name.
      version: a version number, or None for the server's choice (the latest).
      timeout: seconds per request.
    """

    def __init__(self, server: str, model: str, version: int | None = None,
                 timeout: float = 120.0):
        self.server = _base_url(server)
        self.url = f"{self.server}/v1/models/{model}"
        if version is not None:
            self.url += f"/versions/{int(version)}"
        self.timeout = timeout

    def _post(self, body: dict) -> dict:
        data = json.dumps(body).encode()
        request = urllib.request.Request(self.url + ":predict", data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            payload = e.read().decode(errors="replace")
            try:
                message = json.loads(payload).get("error", payload)
            except ValueError:
                message = payload
            raise ServingError(_HTTP_TO_CODE.get(e.code, "UNKNOWN"), message, e.code) from None
        except urllib.error.URLError as e:       # nothing answered: no HTTP status
            raise UnreachableError(self.server, _reason(e.reason)) from None
        except (socket.timeout, TimeoutError):     # connected, but no answer in time
            raise ServingError("DEADLINE_EXCEEDED", f"{self.server} did not answer within "
                                                    f"{self.timeout:g} s") from None
        except ConnectionError as e:               # the connection dropped mid-answer
            raise ServingError("UNAVAILABLE", f"{self.server} closed the connection "
                                              f"({_reason(e)})") from None

    def predict(self, inputs: Mapping[str, Any],
                signature_name: str = "serving_default") -> dict[str, np.ndarray] | np.ndarray:
        """Runs a signature (columnar ``inputs`` format).

        Returns:
          ``{output name: array}``, or a single array when the server returns one
          unnamed output (TF Serving omits the name of a lone output).
        """
        body = {"signature_name": signature_name,
                "inputs": {k: _json_value(v) for k, v in inputs.items()}}
        outputs = self._post(body)["outputs"]
        if isinstance(outputs, dict):
            return {k: np.asarray(v) for k, v in outputs.items()}
        return np.asarray(outputs)

    def predict_instances(self, instances: list,
                          signature_name: str = "serving_default") -> list:
        """Runs a signature in the row (``instances``) format; returns ``predictions``."""
        rows = [{k: _json_value(v) for k, v in row.items()} if isinstance(row, Mapping)
                else _json_value(row) for row in instances]
        body = {"signature_name": signature_name, "instances": rows}
        return self._post(body)["predictions"]

    def _images(self, inputs: Mapping[str, Any], signature_name: str) -> np.ndarray:
        out = self.predict(inputs, signature_name)
        images = out["images"] if isinstance(out, dict) else out
        return np.asarray(images, np.float32)

    def generate(self, z: np.ndarray) -> np.ndarray:
        """``serving_default``: images from latents ``z [m, latent_dim]``."""
        return self._images({"z": np.asarray(z, np.float32)}, "serving_default")

    def adapt_and_generate(self, support_images: np.ndarray, num_samples: int,
                           seed: int = 0) -> np.ndarray:
        """Adapts on ``support_images [n, H, W, C]`` in [-1, 1]; returns ``num_samples`` images."""
        return self._images({"support_images": np.asarray(support_images, np.float32),
                             "num_samples": int(num_samples), "seed": int(seed)},
                            "adapt_and_generate")

    def adapt(self, support_images: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
        """The adapted generator weights, by name."""
        out = self.predict({"support_images": np.asarray(support_images, np.float32),
                            "seed": int(seed)}, "adapt")
        return {k: np.asarray(v, np.float32) for k, v in out.items()}
