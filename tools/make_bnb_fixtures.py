#!/usr/bin/env python3
"""Writes tests/fixtures/bnb/quantize_4bit.safetensors with bitsandbytes (from pip, its CPU path) as
the oracle for fthost's NF4 / FP4 codec (plugins/quant_nf4/nf4_codec.cpp): for fixed inputs (a
Gaussian matrix and a heavy-tailed one with an odd element count), the packed 4-bit codes and the
per-block absmax that `bitsandbytes.functional.quantize_4bit` gives, per quant_type and blocksize.
Also a double-quantized (compress_statistics=True) NF4 case: the 8-bit absmax codes, offset,
nested absmax and bitsandbytes' dynamic map. fthost must produce the same bytes (the absmax codes:
up to near-ties, see plugins/quant_nf4/nf4_codec.hpp).

Also writes tests/fixtures/bnb/int8.safetensors (+ int8.json, which describes every key) as the
oracle for LLM.int8() (quant_int8): bitsandbytes' int8_vectorwise_quant of two weights (CB int8,
SCB f32, the dequantized weight) and of an activation with outliers, and the output of
bitsandbytes.matmul (MatMul8bitLt, as Linear8bitLt with has_fp16_weights=False runs it in eval
mode) at thresholds 0.0 and 6.0, the outlier columns it found, and the input gradient for a fixed dY.
All on bitsandbytes' CPU path (its default PyTorch kernels; int8_linear_matmul is torch._int_mm on
AVX-512 machines, exact either way).

Run by hand (rewrites both fixtures; quantize_4bit.* come out byte-identical on every run):
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
    int8_fixtures()


def int8_fixtures():
    """tests/fixtures/bnb/int8.safetensors + int8.json: LLM.int8() as bitsandbytes computes it on the CPU."""
    from bitsandbytes.autograd._functions import MatmulLtState

    generator = torch.Generator().manual_seed(8)
    weights = {
        # Gaussian with a few large values (one per touched row, so they set that row's SCB)
        "W": torch.randn(96, 64, generator=generator) * 0.5,
        # heavy-tailed (Student-t-like), fewer output features
        "W2": torch.randn(40, 64, generator=generator) / torch.rand(40, 64, generator=generator).clamp_min(0.05),
    }
    for (row, col), value in {(3, 10): 4.0, (17, 40): -5.5, (60, 0): 3.25, (95, 63): -6.0}.items():
        weights["W"][row, col] = value
    x = torch.randn(5, 64, generator=generator)
    # Outliers (|x| >= 6) in columns 7, 30 and 51; 6.0 itself counts (bitsandbytes tests >=), 5.99 does not.
    for (row, col), value in {(0, 7): 6.0, (2, 7): -7.5, (3, 30): 9.25, (1, 51): -6.5, (4, 20): 5.99}.items():
        x[row, col] = value
    dy = torch.randn(5, 96, generator=generator)
    bias = torch.randn(96, generator=generator) * 0.1

    tensors = {"X.input": x.contiguous(), "dY": dy.contiguous(), "bias": bias.contiguous()}
    descriptions = {
        "X.input": "f32 [5,64] activation; |x| >= 6 at (0,7)=6.0, (2,7)=-7.5, (3,30)=9.25, (1,51)=-6.5; (4,20)=5.99 is below the threshold",
        "dY": "f32 [5,96] the fixed output gradient used for W.dX",
        "bias": "f32 [96] bias for the W.t6.bias.out case",
    }
    mismatches = {}
    for name, w in weights.items():
        tensors[f"{name}.input"] = w.contiguous()
        descriptions[f"{name}.input"] = f"f32 {list(w.shape)} weight, nn.Linear layout [out, in]"
        # Int8Params._quantize (Linear8bitLt, has_fp16_weights=False) casts the weight to fp16 first.
        cb, scb, _ = F.int8_vectorwise_quant(w.to(torch.float16).contiguous())
        tensors[f"{name}.CB"] = cb.contiguous()
        tensors[f"{name}.SCB"] = scb.contiguous()
        tensors[f"{name}.dequantized"] = F.int8_vectorwise_dequant(cb, scb).float().contiguous()
        descriptions[f"{name}.CB"] = "int8 [out,in] = round(w16 * 127 / SCB[row]) (round half to even), w16 = weight cast to fp16, as Int8Params quantizes"
        descriptions[f"{name}.SCB"] = "f32 [out] row absmax of the fp16-cast weight"
        descriptions[f"{name}.dequantized"] = "f32 [out,in] int8_vectorwise_dequant(CB, SCB) = CB * SCB[row] * 7.874015718698502e-3"
        # The op called on the f32 weight directly (no fp16 cast): what a caller that skips the cast gets.
        cb32, scb32, _ = F.int8_vectorwise_quant(w.contiguous())
        tensors[f"{name}.f32.CB"] = cb32.contiguous()
        tensors[f"{name}.f32.SCB"] = scb32.contiguous()
        descriptions[f"{name}.f32.CB"] = "int8 [out,in] int8_vectorwise_quant on the f32 weight (no fp16 cast)"
        descriptions[f"{name}.f32.SCB"] = "f32 [out] row absmax of the f32 weight"
        mismatches[name] = int((cb32 != cb).sum())
        # The module path gives the same CB / SCB.
        module = bitsandbytes.nn.Linear8bitLt(w.shape[1], w.shape[0], bias=False, has_fp16_weights=False)
        module.weight = bitsandbytes.nn.Int8Params(w.clone(), requires_grad=False, has_fp16_weights=False)
        module = module.to("cpu")
        assert torch.equal(module.weight.data, cb) and torch.equal(module.weight.SCB, scb), name

    outlier_cols = {}
    for threshold, tag in ((0.0, "t0"), (6.0, "t6")):
        ca, sca, cols = F.int8_vectorwise_quant(x.to(torch.float16).contiguous(), threshold=threshold)
        tensors[f"X.{tag}.CA"] = ca.contiguous()
        tensors[f"X.{tag}.SCA"] = sca.contiguous()
        descriptions[f"X.{tag}.CA"] = (f"int8 [5,64] int8_vectorwise_quant(X.to(fp16), threshold={threshold}) as MatMul8bitLt "
                                       "quantizes the activation" + ("; outlier elements are left out of the row absmax and "
                                                                     "whole outlier columns are zeroed" if threshold else ""))
        descriptions[f"X.{tag}.SCA"] = "f32 [5] per-row absmax of X in fp16" + (" without the outlier elements" if threshold else "")
        for name, w in weights.items():
            cb, scb = tensors[f"{name}.CB"], tensors[f"{name}.SCB"]
            for dtype, suffix in ((torch.float32, ""), (torch.float16, ".fp16")):
                state = MatmulLtState()
                state.CB, state.SCB = cb, scb
                state.has_fp16_weights = False
                state.is_training = False  # MatMul8bitLt; in training mode the CPU path is MatMul8bitFp (below)
                state.threshold = threshold
                a = x.to(dtype).clone().requires_grad_(True)
                out = bitsandbytes.matmul(a, cb, state=state, threshold=threshold)
                assert out.dtype == dtype
                tensors[f"{name}.{tag}.out{suffix}"] = out.detach().contiguous()
                descriptions[f"{name}.{tag}.out{suffix}"] = (
                    f"{'f32' if dtype == torch.float32 else 'f16'} [5,{w.shape[0]}] bitsandbytes.matmul(X{'' if dtype == torch.float32 else '.to(fp16)'}, CB, "
                    f"threshold={threshold}) (MatMul8bitLt, has_fp16_weights=False, not training): int32 CA@CB^T * SCA*SCB*6.200124e-05"
                    + (" + X[:,cols] @ dequant(CB[:,cols])^T in the input dtype" if threshold else ""))
                if threshold:
                    idx = state.idx if state.idx is not None else torch.empty(0, dtype=torch.int64)
                    outlier_cols.setdefault(name, idx.tolist())
                    assert torch.equal(idx, cols)
                if name == "W":
                    out.backward(dy.to(dtype))
                    key = f"W.dX{suffix}"
                    if key in tensors:  # the input gradient does not depend on the threshold
                        assert torch.equal(tensors[key], a.grad), key
                    tensors[key] = a.grad.contiguous()
                    descriptions[key] = (f"{'f32' if dtype == torch.float32 else 'f16'} [5,64] dX from MatMul8bitLt.backward for dY: "
                                         "dY @ (CB * SCB[row] * (1/127)) in the input dtype (same for both thresholds)")
            # Independent check of the f32 output against the formula of the reference notes.
            deq = (ca.to(torch.int32) @ cb.to(torch.int32).t()).float() * (sca[:, None] * scb[None, :]) * 6.200124e-05
            if threshold:
                deq = deq + x[:, cols] @ F.int8_vectorwise_dequant(cb[:, cols].contiguous(), scb).float().t()
            assert torch.allclose(deq, tensors[f"{name}.{tag}.out"], rtol=1e-5, atol=1e-5), (name, tag)
    tensors["X.t6.outlier_cols"] = torch.tensor(outlier_cols["W"], dtype=torch.int64)
    descriptions["X.t6.outlier_cols"] = "int64 the input columns MatMul8bitLt treated as outliers at threshold 6.0 (state.idx)"

    # With a bias, through the module (Linear8bitLt, eval mode), threshold 6.0.
    module = bitsandbytes.nn.Linear8bitLt(64, 96, bias=True, has_fp16_weights=False, threshold=6.0)
    module.weight = bitsandbytes.nn.Int8Params(weights["W"].clone(), requires_grad=False, has_fp16_weights=False)
    module.bias = torch.nn.Parameter(bias.clone())
    module = module.to("cpu").eval()
    with torch.no_grad():
        out = module(x)
        assert torch.allclose(out, tensors["W.t6.out"] + bias, rtol=1e-6, atol=1e-5)
        tensors["W.t6.bias.out"] = out.contiguous()
        descriptions["W.t6.bias.out"] = "f32 [5,96] Linear8bitLt(64,96,bias=True,has_fp16_weights=False,threshold=6.0).eval()(X); the bias is added in int8_mm_dequant, before the outlier addmm"
        # Training mode: on CPU bitsandbytes.matmul runs MatMul8bitFp, a plain matmul with the dequantized weight.
        module.train()
        out = module(x)
        tensors["W.t6.bias.out.train_cpu"] = out.detach().contiguous()
        descriptions["W.t6.bias.out.train_cpu"] = ("f32 [5,96] the same module in training mode: on CPU (and XPU) bitsandbytes.matmul "
                                                   "switches to MatMul8bitFp = X @ dequant(CB)^T + bias, no int8 GEMM and no outlier split")
    for key in tensors:
        assert key in descriptions, key

    safetensors.torch.save_file(tensors, OUT / "int8.safetensors")
    (OUT / "int8.json").write_text(json.dumps({
        "versions": {"bitsandbytes": bitsandbytes.__version__, "torch": torch.__version__},
        "device": "cpu",
        "int8_linear_matmul_kernel": ("torch._int_mm (bitsandbytes' CPU kernel, AVX-512 machines)"
                                      if torch.backends.cpu.get_cpu_capability() == "AVX512"
                                      else "fp32 matmul cast to int32 (bitsandbytes' default kernel)"),
        "outlier_cols_threshold_6": outlier_cols,
        "cb_elements_differing_f32_vs_fp16_cast": mismatches,
        "notes": [
            "Outputs are f32: bitsandbytes' CPU path keeps the input dtype for the output, the outlier product and dX, "
            "but always quantizes the activation from X.to(float16) (MatMul8bitLt casts it) and the weight from its fp16 cast (Int8Params).",
            "The .fp16 keys repeat the matmul with X in float16.",
            "int8_mm_dequant's default (CPU) kernel multiplies by the literal 6.200124e-05, not 1/16129 = 6.2000124e-05.",
            "Only the input gradient is recorded: the weight is frozen int8 (has_fp16_weights=False), so MatMul8bitLt computes no weight gradient.",
            "In training mode bitsandbytes on CPU does not run LLM.int8() at all (MatMul8bitFp, see W.t6.bias.out.train_cpu); "
            "every other output here comes from MatMul8bitLt (is_training=False), the path CUDA uses in training too.",
        ],
        "keys": {key: {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "description": descriptions[key]}
                 for key, t in tensors.items()},
    }, indent=2) + "\n")
    print("wrote", OUT / "int8.safetensors", len(tensors), "tensors; outlier columns", outlier_cols)


if __name__ == "__main__":
    main()
