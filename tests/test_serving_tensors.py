"""TensorProto <-> NumPy, and Predict answers written straight to their wire bytes."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow_serving.apis import model_pb2, predict_pb2

from serving.tensors import TensorError, encode_predict_response, to_array, to_proto

RNG = np.random.default_rng(0)
OUTPUTS = {
    "probabilities": RNG.random((3, 10), dtype=np.float32),
    "logits": RNG.random((2, 2), dtype=np.float64),
    "class_ids": np.array([7, -1, 2**40], dtype=np.int64),
    "counts": np.array([[1, -2]], dtype=np.int32),
    "image": RNG.integers(0, 256, size=(2, 28, 28, 1), dtype=np.uint8),  # content longer than 127 bytes
    "big": np.zeros((200, 300), dtype=np.float32),  # dimensions and a length that need several varint bytes
    "flags": np.array([True, False]),
    "class_names": np.array([b"3", b"", "caf\u00e9".encode()], dtype=object),
    "texts": np.array([["a", "bc"]], dtype=object),  # str values are sent as UTF-8
    "empty": np.zeros((0, 3), dtype=np.float32),
    "scalar": np.float32(0.5),
}


def _spec(version: int) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name="mnist", signature_name="serving_raw")
    spec.version.value = version
    return spec


@pytest.mark.parametrize("version", [1796522258, 0])
def test_encoded_predict_responses_parse_as_the_message_protobuf_would_send(version: int) -> None:
    expected = predict_pb2.PredictResponse()
    expected.model_spec.CopyFrom(_spec(version))
    for alias, value in OUTPUTS.items():
        to_proto(value, out=expected.outputs[alias])

    encoded = encode_predict_response(_spec(version).SerializeToString(), OUTPUTS)

    parsed = predict_pb2.PredictResponse.FromString(encoded)
    assert parsed == expected
    assert parsed.model_spec.HasField("version")
    for alias, value in OUTPUTS.items():
        back = to_array(parsed.outputs[alias])
        assert back.shape == np.shape(value)
        if back.dtype == object:
            assert back.tolist() == [
                [v if isinstance(v, bytes) else v.encode() for v in row] if isinstance(row, list) else row
                for row in np.asarray(value).tolist()
            ]
        else:
            np.testing.assert_array_equal(back, value)


def test_an_output_of_an_unsupported_dtype_is_a_tensor_error() -> None:
    with pytest.raises(TensorError, match="float16 is not supported"):
        encode_predict_response(b"", {"half": np.zeros(2, dtype=np.float16)})


@pytest.mark.reliability
def test_a_tensor_whose_content_does_not_match_its_shape_is_refused() -> None:
    proto = to_proto(np.zeros((2, 3), dtype=np.float32))
    proto.tensor_shape.dim[0].size = 20_000
    with pytest.raises(TensorError, match="tensor_content has 24 bytes, the shape \\[20000, 3\\] needs 240000"):
        to_array(proto)
    strings = to_proto(np.array([b"a", b"b"], dtype=object))
    strings.tensor_shape.dim[0].size = 3
    with pytest.raises(TensorError, match="it carries 2 values, its shape \\[3\\] needs 3"):
        to_array(strings)
