#!/usr/bin/env python3
"""Writes tests/fixtures/bnb/quantize_4bit.safetensors with bitsandbytes (from pip, its CPU path) as
the oracle for fthost's NF4 / FP4 codec (plugins/quant_nf4/nf4_codec.cpp): for fixed inputs (a
Gaussian matrix and a heavy-tailed one with an odd element count), the packed 4-bit codes and the
per-block absmax that `bitsandbytes.functional.quantize_4bit` gives, per quant_type and blocksize.
Also a double-quantized (compress_statistics=True) NF4 case: the 8-bit absmax codes, offset,
nested absmax and bitsandbytes' dynamic map. fthost must produce the same bytes (the absmax codes:
up to near-ties, see plugins/quant_nf4/nf4_codec.hpp). Run by hand:
    ~/.venvs/fthost-reference/bin/pip install bitsandbytes
    ~/.venvs/fthost-reference/bin/python tools/make_bnb_fixtures.py
"""
import json
import pathlib

import bitsandbytes
import bitsandbytes.functional as F
import safetensors.torch
import torch

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/bnb"


def main():
    generator = torch.Generator().manual_seed(3)
    inputs = {
        "gaussian": torch.randn(48, 96, generator=generator),
        # Student-t-like tails and an odd count (the last byte holds one code and a pad nibble)
        "heavy": (torch.randn(1001, generator=generator) / torch.rand(1001, generator=generator).clamp_min(0.05)),
    }
    tensors = {}
    cases = []
    for name, values in inputs.items():
        tensors[f"{name}.input"] = values.contiguous()
        for quant_type in ("nf4", "fp4"):
            for blocksize in (64, 128, 4096):
                # Quantized flat: the same bytes as the 2-D call (the codes run over the row-major
                # flattening either way), and dequantize_4bit is right for it. bitsandbytes 0.50.2's
                # CPU fallback (without the `kernels` package) dequantizes a 2-D packed input in
                # another element order (mean error 0.176 instead of 0.073 for N(0,1), blocksize 64).
                packed, state = F.quantize_4bit(values.flatten().contiguous(), blocksize=blocksize,
                                                quant_type=quant_type)
                key = f"{name}.{quant_type}.{blocksize}"
                tensors[key + ".codes"] = packed.flatten().contiguous()
                tensors[key + ".absmax"] = state.absmax.float().contiguous()
                tensors[key + ".dequantized"] = F.dequantize_4bit(packed, state).float().flatten().contiguous()
                cases.append(key)
    # Double quantization (compress_statistics=True) of a larger Gaussian: several absmax blocks of 256.
    large = torch.randn(33000, generator=generator)  # 516 absmax values: blocks of 256, 256 and 4
    packed, state = F.quantize_4bit(large, blocksize=64, quant_type="nf4", compress_statistics=True)
    _, plain = F.quantize_4bit(large, blocksize=64, quant_type="nf4")
    tensors["double.input"] = large.contiguous()
    tensors["double.codes"] = packed.flatten().contiguous()
    tensors["double.absmax"] = plain.absmax.float().contiguous()        # the first level, exact
    tensors["double.absmax_codes"] = state.absmax.contiguous()           # uint8
    tensors["double.offset"] = state.offset.reshape(1).float()
    tensors["double.nested_absmax"] = state.state2.absmax.float().contiguous()
    tensors["double.dynamic_map"] = state.state2.code.float().contiguous()
    tensors["double.dequantized"] = F.dequantize_4bit(packed, state).float().flatten().contiguous()
    OUT.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(tensors, OUT / "quantize_4bit.safetensors")
    (OUT / "quantize_4bit.json").write_text(json.dumps(
        {"cases": cases, "versions": {"bitsandbytes": bitsandbytes.__version__, "torch": torch.__version__}},
        indent=2) + "\n")
    print("wrote", OUT / "quantize_4bit.safetensors", len(cases), "cases")


if __name__ == "__main__":
    main()
