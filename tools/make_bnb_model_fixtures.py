#!/usr/bin/env python3
"""Writes tiny Hugging Face Llama folders quantized by transformers + bitsandbytes, and what they compute,
as the oracle for loading bitsandbytes checkpoints into fthost (quant_nf4 / quant_int8):

  tests/fixtures/bnb/tiny_llama_dense/   the float32 model (save_pretrained, safetensors)
  tests/fixtures/bnb/tiny_llama_nf4/     loaded from the dense folder with BitsAndBytesConfig(load_in_4bit,
                                         nf4, double quant, compute float32) and saved: bitsandbytes'
                                         serialized 4-bit layout and `quantization_config` in config.json
  tests/fixtures/bnb/tiny_llama_fp4/     the same with fp4 and no double quant
  tests/fixtures/bnb/tiny_llama_int8/    load_in_8bit (llm_int8_threshold 6.0): weight int8, SCB, weight_format
  tests/fixtures/bnb/<folder>.reference.safetensors   input_ids, the logits and loss transformers + bitsandbytes
                                         compute on the CPU for that folder, and cross-checks (see below)
  tests/fixtures/bnb/tiny_llama.json     versions, settings, which path made each logits tensor, every key's
                                         dtype and shape, and the differences measured between the paths

Run by hand (CPU only; about 10 s; rewrites all of the above):
    ~/.venvs/fthost-reference/bin/pip install torch transformers safetensors bitsandbytes
    ~/.venvs/fthost-reference/bin/python tools/make_bnb_model_fixtures.py

What the logits are (bitsandbytes 0.50.2 on the CPU):
  - 4-bit `logits`: Linear4bit with its AVX512-BF16 repacking switched off (module.support_avx512bf16_for_cpu =
    False), so every projection is bitsandbytes' gemm_4bit: dequantize_4bit to float32, then F.linear in float32.
    That is the path of any CPU without AVX512-BF16, and what compute_dtype float32 means.
    `logits.dequantized_dense` is the dense model with each weight replaced by dequantize_4bit of the saved
    packed tensor taken flat (1-D shape; the path known to be right, see tools/make_bnb_fixtures.py); the two
    are compared. `logits.cpu_avx512bf16` (only written on a CPU with AVX512-BF16) is what a plain
    eval/no_grad forward gives there: bitsandbytes repacks the weight and runs its bf16 gemv kernel
    (activations and scales rounded to bfloat16), so it is further from both.
  - int8 `logits`: Linear8bitLt in eval mode, i.e. MatMul8bitLt (int8 activations and weights, outlier columns
    |x| >= 6 in 16-bit). The script re-derives them with the LLM.int8() formula from the saved CB/SCB and records
    the difference. In training mode the CPU path would instead run MatMul8bitFp (dequantized weight, no int8).
"""
import json
import pathlib
import shutil
import warnings

import bitsandbytes
import bitsandbytes.functional as F
import safetensors
import safetensors.torch
import torch
import transformers
from transformers import BitsAndBytesConfig, LlamaConfig, LlamaForCausalLM

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/bnb"

INIT_SEED = 0            # torch.manual_seed before LlamaForCausalLM(config)
NORM_SEED = 1            # torch.Generator for the norm-weight noise
INPUT_IDS_SEED = 2       # torch.Generator for input_ids
BATCH, SEQUENCE = 2, 12
# Planted outlier features: after RMSNorm each feature is ~N(0,1); these norm weights make the feature of
# that column reach |x| >= 6 on some tokens, so LLM.int8()'s outlier split runs (q/k/v and gate/up inputs).
PLANTED_NORM_WEIGHTS = {
    "model.layers.0.input_layernorm.weight": {5: 7.0},
    "model.layers.0.post_attention_layernorm.weight": {40: -9.0},
    "model.layers.1.input_layernorm.weight": {17: 8.0},
}

CASES = {
    "tiny_llama_nf4": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                         bnb_4bit_compute_dtype=torch.float32),
    "tiny_llama_fp4": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="fp4", bnb_4bit_use_double_quant=False,
                                         bnb_4bit_compute_dtype=torch.float32),
    "tiny_llama_int8": BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=6.0),
}


def config():
    return LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0,
                       attention_dropout=0.0, tie_word_embeddings=False,
                       initializer_range=0.1)  # not 0.02: logits of a useful scale (loss visibly off ln(96))


def dense_model():
    torch.manual_seed(INIT_SEED)  # before the model's own init
    model = LlamaForCausalLM._from_config(config(), attn_implementation="eager").float()
    noise = torch.Generator().manual_seed(NORM_SEED)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):  # RMSNorm weights != 1 (they stay float32 in the quantized folders)
                parameter.add_(0.1 * torch.randn(parameter.shape, generator=noise))
        parameters = dict(model.named_parameters())
        for name, planted in PLANTED_NORM_WEIGHTS.items():
            for index, value in planted.items():
                parameters[name][index] = value
    return model.eval()


def load(folder, quantization_config=None):
    kwargs = {"quantization_config": quantization_config, "device_map": "cpu"} if quantization_config else {}
    return LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager", **kwargs).eval()


def forward(model, input_ids):
    with torch.no_grad():
        output = model(input_ids=input_ids, labels=input_ids)
    return output.logits.float().contiguous(), output.loss.float().reshape(1)


def saved_tensors(folder):
    return safetensors.torch.load_file(str(folder / "model.safetensors"))


def linear_prefixes(saved, marker):
    return sorted(key[: -len(marker)] for key in saved if key.endswith(marker))


def quant_state_of(saved, prefix):
    """bitsandbytes' QuantState from the saved keys `<prefix>.weight.*` (as Linear4bit loads them)."""
    entries = {key[len(prefix) + len(".weight."):]: value for key, value in saved.items()
               if key.startswith(prefix + ".weight.")}
    return F.QuantState.from_dict(entries, device=torch.device("cpu"))


def dequantize_flat(packed, state):
    """dequantize_4bit on the flattened packed tensor with a 1-D shape, reshaped to [out, in]."""
    flat = F.QuantState(absmax=state.absmax, shape=torch.Size([state.shape.numel()]), code=state.code,
                        blocksize=state.blocksize, quant_type=state.quant_type, dtype=state.dtype,
                        offset=state.offset, state2=state.state2)
    return F.dequantize_4bit(packed.reshape(-1, 1), flat).reshape(state.shape)


def four_bit_references(folder, dense_folder, input_ids, quantization_config, dense_state):
    saved = saved_tensors(folder)
    prefixes = linear_prefixes(saved, ".weight.quant_state.bitsandbytes__" + quantization_config.bnb_4bit_quant_type)
    checks = {"quantized_linears": len(prefixes)}

    # The saved bytes are bitsandbytes' codec applied to the dense weight, flattened row-major.
    for prefix in prefixes:
        dense = dense_state[prefix + ".weight"]
        packed, state = F.quantize_4bit(dense.flatten(), blocksize=64, quant_type=quantization_config.bnb_4bit_quant_type,
                                        compress_statistics=quantization_config.bnb_4bit_use_double_quant)
        assert torch.equal(saved[prefix + ".weight"].flatten(), packed.flatten()), prefix
        assert torch.equal(saved[prefix + ".weight.absmax"], state.absmax), prefix
    checks["saved_codes_equal_quantize_4bit_of_flat_dense_weight"] = True

    # 1. bitsandbytes' float32 path (gemm_4bit: dequantize_4bit + F.linear), the repacked bf16 kernel switched off.
    model = load(folder)
    linears = [module for module in model.modules() if isinstance(module, bitsandbytes.nn.Linear4bit)]
    assert len(linears) == len(prefixes)
    for module in linears:
        module.support_avx512bf16_for_cpu = False
    logits, loss = forward(model, input_ids)
    assert not any(getattr(m.weight.quant_state, "packing_format_for_cpu", False) for m in linears)

    # 2. The dense model with the weights dequantized from the saved file (flat packed tensor, 1-D shape).
    dequantized = load(dense_folder)
    parameters = dict(dequantized.named_parameters())
    max_2d_vs_flat = 0.0
    weight_mean_abs_error = []
    with torch.no_grad():
        for prefix in prefixes:
            state = quant_state_of(saved, prefix)
            weight = dequantize_flat(saved[prefix + ".weight"], state)
            two_d = F.dequantize_4bit(saved[prefix + ".weight"], state)  # the CPU kernel with the 2-D shape
            max_2d_vs_flat = max(max_2d_vs_flat, (two_d - weight).abs().max().item())
            weight_mean_abs_error.append(((weight - dense_state[prefix + ".weight"]).abs().mean()
                                          / dense_state[prefix + ".weight"].abs().mean()).item())
            parameters[prefix + ".weight"].copy_(weight)
    dq_logits, dq_loss = forward(dequantized, input_ids)
    checks["dequantize_4bit_2d_shape_vs_flat_max_abs_difference"] = max_2d_vs_flat
    checks["weight_relative_mean_abs_error_max"] = max(weight_mean_abs_error)
    checks["logits_vs_dequantized_dense_max_abs_difference"] = (logits - dq_logits).abs().max().item()
    assert checks["logits_vs_dequantized_dense_max_abs_difference"] < 1e-4, checks

    tensors = {"input_ids": input_ids, "logits": logits, "loss": loss,
               "logits.dequantized_dense": dq_logits, "loss.dequantized_dense": dq_loss}
    paths = {
        "logits": "transformers + bitsandbytes forward, eval, no_grad, Linear4bit.support_avx512bf16_for_cpu=False: "
                  "gemm_4bit = dequantize_4bit (CPU kernel, 2-D shape) + F.linear in float32",
        "logits.dequantized_dense": "the dense model (tiny_llama_dense) with every quantized weight replaced by "
                                    "bitsandbytes.functional.dequantize_4bit of the saved packed tensor taken flat (1-D shape)",
    }

    # 3. A plain forward on a CPU with AVX512-BF16: repacked weights, bf16 gemv kernel.
    if F.has_avx512bf16():
        model = load(folder)
        bf16_logits, bf16_loss = forward(model, input_ids)
        assert all(getattr(m.weight.quant_state, "packing_format_for_cpu", False)
                   for m in model.modules() if isinstance(m, bitsandbytes.nn.Linear4bit))
        tensors["logits.cpu_avx512bf16"], tensors["loss.cpu_avx512bf16"] = bf16_logits, bf16_loss
        paths["logits.cpu_avx512bf16"] = ("plain eval/no_grad forward on this AVX512-BF16 CPU: bitsandbytes repacks each "
                                          "weight (packing_format_for_cpu) and runs its bf16 gemv kernel; activations, "
                                          "scales and outputs pass through bfloat16")
        checks["cpu_avx512bf16_vs_logits_max_abs_difference"] = (bf16_logits - logits).abs().max().item()
        checks["cpu_avx512bf16_vs_logits_mean_abs_difference"] = (bf16_logits - logits).abs().mean().item()
    else:
        checks["cpu_avx512bf16"] = "this CPU has no AVX512-BF16: a plain forward is the float32 path of `logits`"
    return tensors, paths, checks


def int8_reference_linear(x, cb, scb, threshold):
    """LLM.int8() as bitsandbytes' MatMul8bitLt computes it (tests/fixtures/bnb/int8.json), written out."""
    a = x.reshape(-1, x.shape[-1])
    a16 = a.to(torch.float16)
    cols = torch.empty(0, dtype=torch.int64)
    if threshold > 0:
        outliers = a16.abs() >= threshold
        cols = torch.argwhere(outliers.any(dim=0)).view(-1)
        a16 = a16.masked_fill(outliers, 0)
    sca = a16.abs().max(dim=1).values.float()
    ca = torch.round(a16 * (127.0 / sca.unsqueeze(-1))).to(torch.int8)
    if a.shape[0] > 1 and cols.numel():
        ca[:, cols] = 0
    out = (ca.to(torch.int32) @ cb.to(torch.int32).t()).float() * (sca[:, None] * scb[None, :]) * 6.200124e-05
    if cols.numel():
        out = out + a[:, cols] @ (cb[:, cols].float() * scb[:, None] * 7.874015718698502e-3).t()
    return out.reshape(*x.shape[:-1], cb.shape[0]), cols.tolist()


def int8_references(folder, dense_folder, input_ids, quantization_config, dense_state):
    saved = saved_tensors(folder)
    prefixes = linear_prefixes(saved, ".SCB")
    checks = {"quantized_linears": len(prefixes)}
    for prefix in prefixes:  # Int8Params: int8_vectorwise_quant of the weight cast to fp16
        cb, scb, _ = F.int8_vectorwise_quant(dense_state[prefix + ".weight"].to(torch.float16))
        assert torch.equal(saved[prefix + ".weight"], cb) and torch.equal(saved[prefix + ".SCB"], scb), prefix
    checks["saved_CB_SCB_equal_int8_vectorwise_quant_of_fp16_dense_weight"] = True

    model = load(folder)
    linears = {name: module for name, module in model.named_modules() if isinstance(module, bitsandbytes.nn.Linear8bitLt)}
    assert sorted(linears) == prefixes
    logits, loss = forward(model, input_ids)
    outlier_cols = {name: (module.state.idx.tolist() if module.state.idx is not None else [])
                    for name, module in linears.items()}

    # The same forward with the LLM.int8() formula, from the saved CB / SCB only.
    threshold = quantization_config.llm_int8_threshold
    formula = load(dense_folder)
    formula_cols = {}

    def patch(name, module):
        cb, scb = saved[name + ".weight"], saved[name + ".SCB"]

        def run(x):
            out, cols = int8_reference_linear(x, cb, scb, threshold)
            formula_cols[name] = cols
            return out
        module.forward = run

    for name, module in formula.named_modules():
        if name in linears:
            patch(name, module)
    formula_logits, _ = forward(formula, input_ids)
    assert formula_cols == outlier_cols, (formula_cols, outlier_cols)
    checks["logits_vs_llm_int8_formula_max_abs_difference"] = (formula_logits - logits).abs().max().item()
    assert checks["logits_vs_llm_int8_formula_max_abs_difference"] < 1e-4, checks
    checks["outlier_cols_threshold_6"] = {name: cols for name, cols in outlier_cols.items() if cols}
    tensors = {"input_ids": input_ids, "logits": logits, "loss": loss}
    paths = {"logits": "transformers + bitsandbytes forward, eval, no_grad: Linear8bitLt -> MatMul8bitLt "
                       "(X cast to fp16 and quantized per row, int8 GEMM, outlier columns |x| >= 6.0 added in float32 "
                       "with the int8-dequantized weight columns); output float32"}
    return tensors, paths, checks


def describe_folder(folder):
    files = {}
    for path in sorted(folder.iterdir()):
        entry = {"bytes": path.stat().st_size}
        if path.suffix == ".safetensors":
            with safetensors.safe_open(str(path), framework="pt") as f:
                entry["tensors"] = {key: {"dtype": f.get_slice(key).get_dtype(), "shape": f.get_slice(key).get_shape()}
                                    for key in sorted(f.keys())}
        files[path.name] = entry
    return files


def main():
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    OUT.mkdir(parents=True, exist_ok=True)
    dense_folder = OUT / "tiny_llama_dense"
    if dense_folder.exists():
        shutil.rmtree(dense_folder)
    model = dense_model()
    model.save_pretrained(dense_folder, safe_serialization=True)
    dense_state = {key: value.detach().clone() for key, value in model.state_dict().items()}
    data = torch.Generator().manual_seed(INPUT_IDS_SEED)
    input_ids = torch.randint(0, model.config.vocab_size, (BATCH, SEQUENCE), generator=data, dtype=torch.int64)

    reloaded = load(dense_folder)
    logits, loss = forward(reloaded, input_ids)
    dense_logits_from_memory, _ = forward(model, input_ids)
    assert torch.equal(logits, dense_logits_from_memory)
    results = {"tiny_llama_dense": ({"input_ids": input_ids, "logits": logits, "loss": loss},
                                    {"logits": "transformers forward of the float32 folder, eval, no_grad"},
                                    {})}

    for case, quantization_config in CASES.items():
        folder = OUT / case
        if folder.exists():
            shutil.rmtree(folder)
        # Saved straight after loading: a forward on an AVX512-BF16 CPU repacks 4-bit weights in place
        # (and _save_to_state_dict has to undo that).
        load(dense_folder, quantization_config).save_pretrained(folder, safe_serialization=True)
        if quantization_config.load_in_4bit:
            tensors, paths, checks = four_bit_references(folder, dense_folder, input_ids, quantization_config, dense_state)
        else:
            tensors, paths, checks = int8_references(folder, dense_folder, input_ids, quantization_config, dense_state)
        checks["logits_vs_dense_mean_abs_difference"] = (tensors["logits"] - logits).abs().mean().item()
        checks["logits_vs_dense_max_abs_difference"] = (tensors["logits"] - logits).abs().max().item()
        checks["dense_logits_mean_abs"] = logits.abs().mean().item()
        checks["dense_loss"] = loss.item()
        checks["argmax_agreement_with_dense"] = (tensors["logits"].argmax(-1) == logits.argmax(-1)).float().mean().item()
        results[case] = (tensors, paths, checks)

    summary = {
        "versions": {"bitsandbytes": bitsandbytes.__version__, "torch": torch.__version__,
                     "transformers": transformers.__version__, "safetensors": safetensors.__version__},
        "device": "cpu",
        "cpu_avx512bf16": bool(F.has_avx512bf16()),
        "model": {"class": "LlamaForCausalLM", "dtype": "float32", "attn_implementation": "eager",
                  "init_manual_seed": INIT_SEED,
                  "norm_weights": f"1 + 0.1 * randn (torch.Generator seed {NORM_SEED}), then planted outlier features",
                  "planted_norm_weights": PLANTED_NORM_WEIGHTS},
        "input_ids": {"shape": [BATCH, SEQUENCE], "generator_seed": INPUT_IDS_SEED, "labels": "input_ids"},
        "loss": "transformers' causal-LM loss: mean cross-entropy of position t predicting token t+1 over B*(T-1) predictions",
        "quantized_modules": "every nn.Linear of the decoder layers; embed_tokens, lm_head and the norms stay float32",
        "notes": [
            "bitsandbytes' CPU dequantize_4bit kernel (native library, used for a 2-D shape) assigns element (r, c) of an "
            "[m, n] weight to absmax block r * (n // blocksize) + c // blocksize instead of (r * n + c) // blocksize: wrong "
            "whenever n % blocksize != 0 (the codes themselves are read in the right order). Every in_features here (64, 128) "
            "is a multiple of 64, so the 2-D and flat dequantizations agree exactly (checks: "
            "dequantize_4bit_2d_shape_vs_flat_max_abs_difference) and transformers' 4-bit forward is right.",
            "The quantized folders are saved straight after loading, before any forward.",
            "logits_vs_dense_* measure quantization error, not a bug: the 4-bit logits equal the dense model run with the "
            "dequantized weights (logits_vs_dequantized_dense_max_abs_difference).",
        ],
        "cases": {},
    }
    for case, (tensors, paths, checks) in results.items():
        reference = OUT / f"{case}.reference.safetensors"
        safetensors.torch.save_file({key: value.contiguous() for key, value in sorted(tensors.items())}, str(reference),
                                    metadata={"format": "pt"})
        summary["cases"][case] = {
            "folder": case,
            "reference": reference.name,
            "quantization_config": json.loads((OUT / case / "config.json").read_text()).get("quantization_config"),
            "logits_paths": paths,
            "checks": checks,
            "files": describe_folder(OUT / case),
            "reference_tensors": {key: {"dtype": str(value.dtype).replace("torch.", ""), "shape": list(value.shape)}
                                  for key, value in sorted(tensors.items())},
        }
    (OUT / "tiny_llama.json").write_text(json.dumps(summary, indent=2) + "\n")

    for case, info in summary["cases"].items():
        print(f"== {case}/ (reference: {info['reference']})")
        for name, entry in info["files"].items():
            print(f"  {name}: {entry['bytes']} bytes")
            for key, tensor in entry.get("tensors", {}).items():
                print(f"    {key}: {tensor['dtype']} {tensor['shape']}")
        for key, tensor in info["reference_tensors"].items():
            print(f"  reference {key}: {tensor['dtype']} {tensor['shape']}")
        print("  checks:", json.dumps(info["checks"]))
    saved = saved_tensors(OUT / "tiny_llama_nf4")
    key = "model.layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__nf4"
    print(f"{key}:", bytes(saved[key].tolist()).decode("utf-8"))
    print("tiny_llama_nf4 quantization_config:", json.dumps(summary["cases"]["tiny_llama_nf4"]["quantization_config"], indent=2))


if __name__ == "__main__":
    main()
