#!/usr/bin/env python3
"""Writes tests/model/fixtures/tiny.safetensors with Hugging Face's own safetensors library.

The C++ reader is tested against this file, and the C++ writer must reproduce it byte for byte,
so the fixture pins fthost to the reference implementation rather than to itself. One tensor per
dtype fthost supports, plus a scalar and a zero-size tensor; values are exact in every dtype.

    pip install safetensors numpy
    python3 tools/make_safetensors_fixture.py   # rewrites the fixture; commit the result
"""

import pathlib

import numpy as np
from safetensors import TensorSpec, serialize_file

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "tests/model/fixtures/tiny.safetensors"


def bfloat16_bits(values):
    # numpy has no bfloat16: the top 16 bits of a float32 are its bfloat16 (exact for these values).
    return (np.asarray(values, dtype="<f4").view("<u4") >> 16).astype("<u2")


def main():
    arrays = {
        "model.embed_tokens.weight": ("float32", np.arange(6, dtype="<f4").reshape(2, 3) * 0.5 - 1.0),
        "model.norm.weight": ("float64", np.array([1.25, -2.5], dtype="<f8")),
        "position_ids": ("int64", np.array([-1, 0, 1 << 40], dtype="<i8")),
        "counts": ("int32", np.array([[-7, 0], [7, 2147483647]], dtype="<i4")),
        "half": ("float16", np.array([1.0, -2.0, 0.5, 65504.0], dtype="<f2")),
        "brain": ("bfloat16", bfloat16_bits([1.0, -3.5, 0.15625])),
        "quantized": ("int8", np.array([-128, 0, 127], dtype="<i1")),
        "bytes": ("uint8", np.array([0, 255], dtype="<u1")),
        "scalar": ("float32", np.array(42.0, dtype="<f4")),
        "empty": ("float32", np.zeros((0, 4), dtype="<f4")),
    }
    specs = {
        name: TensorSpec(dtype=dtype, shape=list(array.shape), data_ptr=array.ctypes.data, data_len=array.nbytes)
        for name, (dtype, array) in arrays.items()
    }
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    serialize_file(specs, str(FIXTURE), metadata={"format": "pt"})
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
