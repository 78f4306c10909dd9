#!/usr/bin/env python3
"""Writes tests/fixtures/reference/<case>/ with PyTorch + Hugging Face transformers as the oracle.

fthost's CPU backend must compute the same numbers as transformers. For each tiny model below this
script builds random weights from fixed seeds, saves them as a Hugging Face folder (config.json,
generation_config.json, model.safetensors) and records what transformers computes on one fixed batch:
logits, the causal-LM loss, the gradient of every parameter, and ten steps of AdamW fine-tuning with
and without gradient clipping. reference.json beside them states every setting, so a C++ test reads
them instead of hard-coding. Run by hand; fthost never imports this.

    python3 -m venv ~/.venvs/fthost-reference
    ~/.venvs/fthost-reference/bin/pip install torch transformers safetensors numpy
    ~/.venvs/fthost-reference/bin/python tools/make_reference_fixtures.py   # rewrites the fixtures

See tools/README.md for the versions that produced the committed files.
"""

import copy
import json
import math
import pathlib
import platform
import shutil
import sys

import numpy as np
import safetensors
import safetensors.torch
import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

OUTPUT_ROOT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/reference"

BATCH_SIZE = 2
SEQUENCE_LENGTH = 24
NOISE_STD = 0.02  # added to every parameter after the model's own init, so norm weights != 1, biases != 0
TRAIN_STEPS = 10
ADAMW = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}
CLIP_MAX_NORM = 0.5
PACKED_DOC_LENGTHS = [10, 14]  # llama_gqa only; sums to SEQUENCE_LENGTH

# Dims shared by the Llama-family cases (head_dim = 64 / 4 = 16, 2 query heads per key/value head).
LLAMA_DIMS = {
    "vocab_size": 96,
    "hidden_size": 64,
    "intermediate_size": 112,  # 160 would push the fixtures past 3 MB; 112 also differs from 96, 64, 32, 16
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-5,
    "attention_dropout": 0.0,
}


def make_llama_gqa():
    return LlamaForCausalLM, LlamaConfig(**LLAMA_DIMS, rope_theta=10000.0, tie_word_embeddings=False)


def make_llama3_rope_scaling():
    # original_max_position_embeddings = 48 puts the 8 rotary frequencies of head_dim 16 in all three
    # bands of Llama 3's rule (wavelength < 48/4 kept, > 48/1 divided by factor, between: smoothed);
    # check_llama3_bands() asserts it. With 16 no frequency would be kept: 2*pi > 16/4.
    rope_scaling = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 48,
    }
    config = LlamaConfig(**LLAMA_DIMS, rope_theta=500000.0, rope_scaling=rope_scaling, tie_word_embeddings=False)
    return LlamaForCausalLM, config


def make_qwen2_bias_tied():
    # Qwen2 puts biases on q/k/v (not o) unconditionally; LLAMA_DIMS' attention_dropout also applies.
    config = Qwen2Config(**LLAMA_DIMS, rope_theta=10000.0, tie_word_embeddings=True, use_sliding_window=False)
    return Qwen2ForCausalLM, config


def make_gpt2():
    config = GPT2Config(
        vocab_size=96,
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=4,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        summary_first_dropout=0.0,
        bos_token_id=95,  # GPT-2's default 50256 lies outside this vocabulary; only generation reads it
        eos_token_id=95,
    )
    return GPT2LMHeadModel, config


# case name -> (builder, seed). Each case seeds its own init, noise and data, so cases are independent.
CASES = {
    "llama_gqa": (make_llama_gqa, 1000),
    "llama3_rope_scaling": (make_llama3_rope_scaling, 2000),
    "qwen2_bias_tied": (make_qwen2_bias_tied, 3000),
    "gpt2": (make_gpt2, 4000),
}


def seeds_for(case_seed):
    return {
        "init_manual_seed": case_seed,  # torch.manual_seed before the model's own __init__/_init_weights
        "noise_generator_seed": case_seed + 1,  # torch.Generator for the added N(0, NOISE_STD^2) noise
        "input_ids_generator_seed": case_seed + 2,  # torch.Generator for input_ids
        "packed_input_ids_generator_seed": case_seed + 3,  # torch.Generator for packed_input_ids
    }


def build_model(model_class, config, seeds):
    config._attn_implementation = "eager"
    torch.manual_seed(seeds["init_manual_seed"])
    model = model_class(config).to(torch.float32)
    noise = torch.Generator().manual_seed(seeds["noise_generator_seed"])
    with torch.no_grad():
        # named_parameters() yields a tied tensor once, so a tied embedding gets noise once.
        for _, parameter in model.named_parameters():
            parameter.add_(NOISE_STD * torch.randn(parameter.shape, generator=noise, dtype=torch.float32))
    model.train()  # every dropout probability is 0, so train and eval compute the same
    return model


def causal_lm_loss_by_hand(logits, input_ids):
    # Mean cross-entropy of position t predicting token t+1, over B*(T-1) predictions. logits (B,T,V).
    vocab = logits.shape[-1]
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, vocab), input_ids[:, 1:].reshape(-1))


def train(model, input_ids, clip_max_norm):
    """TRAIN_STEPS AdamW steps on the same batch; returns (loss before each update, pre-clip grad norms)."""
    parameters = list(model.parameters())
    optimizer = torch.optim.AdamW(
        parameters, lr=ADAMW["lr"], betas=tuple(ADAMW["betas"]), eps=ADAMW["eps"], weight_decay=ADAMW["weight_decay"]
    )
    losses, grad_norms = [], []
    for _ in range(TRAIN_STEPS):
        optimizer.zero_grad(set_to_none=True)
        loss = model(input_ids=input_ids, labels=input_ids).loss
        losses.append(loss.detach().clone())
        loss.backward()
        if clip_max_norm is not None:
            grad_norms.append(torch.nn.utils.clip_grad_norm_(parameters, clip_max_norm).detach().clone())
        optimizer.step()
    return torch.stack(losses), (torch.stack(grad_norms) if grad_norms else None), optimizer


def float64_rerun_differences(initial_model, input_ids, reference):
    """How far float32 rounding moves each recorded quantity: the same weights rerun in float64.

    A C++ test's tolerance should sit above these numbers (an implementation with another summation
    order has rounding of the same size) and far below the size of a real bug.
    """
    model = copy.deepcopy(initial_model).double()  # .double() converts in place, so ties survive
    output = model(input_ids=input_ids, labels=input_ids)
    output.loss.backward()
    largest_gradient_difference = max(
        (parameter.grad.float() - reference["grad." + name]).abs().max().item()
        for name, parameter in model.named_parameters()
    )
    train_losses, _, _ = train(copy.deepcopy(initial_model).double(), input_ids, clip_max_norm=None)
    clipped_losses, grad_norms, _ = train(copy.deepcopy(initial_model).double(), input_ids, CLIP_MAX_NORM)

    def difference(float64_tensor, name):
        return (float64_tensor.detach().float() - reference[name]).abs().max().item()

    return {
        "logits": difference(output.logits, "logits"),
        "loss": difference(output.loss.reshape(1), "loss"),
        "grad_any_parameter": largest_gradient_difference,
        "train_losses": difference(train_losses, "train_losses"),
        "train_losses_clipped": difference(clipped_losses, "train_losses_clipped"),
        "grad_norms_clipped": difference(grad_norms, "grad_norms_clipped"),
    }


def check_llama3_bands(model, config):
    """Returns a per-frequency table and asserts the kept, smoothed and divided bands are all present."""
    rope = config.rope_parameters
    head_dim = config.hidden_size // config.num_attention_heads
    base = rope["rope_theta"]
    unscaled = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    scaled = model.model.rotary_emb.inv_freq.detach()
    low_freq_wavelen = rope["original_max_position_embeddings"] / rope["low_freq_factor"]
    high_freq_wavelen = rope["original_max_position_embeddings"] / rope["high_freq_factor"]
    table = []
    for index, (before, after) in enumerate(zip(unscaled.tolist(), scaled.tolist())):
        wavelength = 2 * math.pi / before
        if wavelength < high_freq_wavelen:
            band = "kept"
        elif wavelength > low_freq_wavelen:
            band = "divided_by_factor"
        else:
            band = "smoothed"
        table.append(
            {"index": index, "wavelength": wavelength, "inv_freq": before, "scaled_inv_freq": after, "band": band}
        )
    bands = {row["band"] for row in table}
    assert bands == {"kept", "smoothed", "divided_by_factor"}, f"llama3 rope bands present: {sorted(bands)}"
    for row in table:
        changed = row["inv_freq"] != row["scaled_inv_freq"]
        assert changed == (row["band"] != "kept"), f"llama3 rope frequency {row}"
    return table


def packed_reference(model, vocab_size, seeds):
    """Logits of each document run alone (positions from 0), concatenated: what packed attention must match."""
    generator = torch.Generator().manual_seed(seeds["packed_input_ids_generator_seed"])
    packed_input_ids = torch.randint(0, vocab_size, (1, SEQUENCE_LENGTH), generator=generator, dtype=torch.int64)
    pieces, start = [], 0
    with torch.no_grad():
        for length in PACKED_DOC_LENGTHS:
            pieces.append(model(input_ids=packed_input_ids[:, start : start + length]).logits)
            start += length
        packed_logits = torch.cat(pieces, dim=1)  # (1, 24, V)
        # transformers itself infers document boundaries from restarting position_ids (only without a
        # KV cache); it must agree.
        position_ids = torch.cat([torch.arange(length) for length in PACKED_DOC_LENGTHS]).unsqueeze(0)
        hf_packed = model(input_ids=packed_input_ids, position_ids=position_ids, use_cache=False).logits
        whole_row = model(input_ids=packed_input_ids).logits
    max_difference = (hf_packed - packed_logits).abs().max().item()
    assert max_difference < 1e-5, f"transformers' own packed path differs by {max_difference}"
    # The second document must actually differ from running the row as one sequence.
    assert (whole_row[:, PACKED_DOC_LENGTHS[0] :] - packed_logits[:, PACKED_DOC_LENGTHS[0] :]).abs().max() > 1e-3
    tensors = {
        "packed_input_ids": packed_input_ids,
        "packed_doc_lengths": torch.tensor(PACKED_DOC_LENGTHS, dtype=torch.int64),
        "packed_logits": packed_logits,
    }
    return tensors, max_difference


def make_case(case, builder, case_seed):
    model_class, config = builder()
    seeds = seeds_for(case_seed)
    model = build_model(model_class, config, seeds)
    initial_model = copy.deepcopy(model)  # deepcopy keeps tied parameters tied

    folder = OUTPUT_ROOT / case
    if folder.exists():
        shutil.rmtree(folder)
    model.save_pretrained(folder)  # transformers 5 always writes safetensors

    data = torch.Generator().manual_seed(seeds["input_ids_generator_seed"])
    input_ids = torch.randint(0, config.vocab_size, (BATCH_SIZE, SEQUENCE_LENGTH), generator=data, dtype=torch.int64)

    model.zero_grad(set_to_none=True)
    output = model(input_ids=input_ids, labels=input_ids)
    output.loss.backward()
    logits = output.logits.detach()  # (B, T, V)
    loss_by_hand = causal_lm_loss_by_hand(logits, input_ids)
    # Same value up to summation order: HF also sums the ignored last positions (as zeros).
    loss_by_hand_difference = (loss_by_hand - output.loss.detach()).abs().item()
    assert loss_by_hand_difference < 1e-6, (loss_by_hand, output.loss)

    # The saved folder alone must reproduce the logits (a tied lm_head.weight is absent from it).
    reloaded = model_class.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=input_ids).logits, logits), f"{case}: reloaded folder differs"

    tensors = {
        "input_ids": input_ids,
        "logits": logits,
        "loss": output.loss.detach().reshape(1),
    }
    parameter_names = []
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().max() > 0, f"{case}: zero gradient for {name}"
        tensors["grad." + name] = parameter.grad.detach()
        parameter_names.append({"name": name, "shape": list(parameter.shape)})

    train_losses, _, optimizer = train(copy.deepcopy(initial_model), input_ids, clip_max_norm=None)
    clipped_losses, grad_norms, _ = train(copy.deepcopy(initial_model), input_ids, clip_max_norm=CLIP_MAX_NORM)
    assert torch.equal(train_losses[0], tensors["loss"][0]) and torch.equal(clipped_losses[0], tensors["loss"][0])
    assert (grad_norms > CLIP_MAX_NORM).all(), f"{case}: clipping must bind at every step: {grad_norms}"
    tensors["train_losses"] = train_losses
    tensors["train_losses_clipped"] = clipped_losses
    tensors["grad_norms_clipped"] = grad_norms

    extra = {"float64_rerun_max_abs_difference": float64_rerun_differences(initial_model, input_ids, tensors)}
    if case == "llama_gqa":
        packed, max_difference = packed_reference(initial_model, config.vocab_size, seeds)
        tensors.update(packed)
        extra["packed"] = {
            "doc_lengths": PACKED_DOC_LENGTHS,
            "reference": "each document run alone with positions from 0, logits concatenated",
            "transformers_packed_position_ids_max_abs_difference": max_difference,
        }
    if case == "llama3_rope_scaling":
        extra["llama3_rope_frequencies"] = check_llama3_bands(initial_model, config)

    tensors = {name: tensor.contiguous() for name, tensor in sorted(tensors.items())}
    safetensors.torch.save_file(tensors, str(folder / "reference.safetensors"), metadata={"format": "pt"})

    with safetensors.safe_open(str(folder / "model.safetensors"), framework="pt") as saved:
        saved_weights = list(saved.keys())
    state_dict_names = sorted(initial_model.state_dict().keys())
    settings = {
        "case": case,
        "model_class": model_class.__name__,
        "model_folder": ".",  # config.json and model.safetensors beside this file
        "attn_implementation": "eager",
        "dtype": "float32",
        "seeds": seeds,
        "noise": f"every parameter p += {NOISE_STD} * randn(p.shape), after the model's own init",
        "noise_std": NOISE_STD,
        "batch": {"batch_size": BATCH_SIZE, "sequence_length": SEQUENCE_LENGTH, "labels": "input_ids"},
        "loss": (
            "transformers ForCausalLMLoss: labels padded with -100 on the right and shifted left, so position t "
            "predicts token t+1; mean cross-entropy over the B*(T-1) predictions (the last position of every row "
            "is ignored); logits upcast to float32 first"
        ),
        "loss_prediction_count": BATCH_SIZE * (SEQUENCE_LENGTH - 1),
        "optimizer": {
            "name": "torch.optim.AdamW",
            **ADAMW,
            "param_groups": "one group with every parameter (norm weights and biases decayed too)",
            "resolved_defaults": {
                key: value for key, value in optimizer.defaults.items() if isinstance(value, (bool, int, float, type(None)))
            },
        },
        "train_steps": TRAIN_STEPS,
        "train_losses": "loss of step k is computed with the weights after k updates, before update k+1",
        "clipping": {
            "function": "torch.nn.utils.clip_grad_norm_",
            "max_norm": CLIP_MAX_NORM,
            "norm_type": 2.0,
            "rule": "total = sqrt(sum of squared grads over all parameters); grads *= min(1, max_norm / (total + 1e-6))",
            "grad_norms_clipped": "the total norm returned by clip_grad_norm_, before clipping",
        },
        "tie_word_embeddings": bool(config.tie_word_embeddings),
        "parameters": parameter_names,
        "state_dict_names": state_dict_names,
        "model_safetensors_names": sorted(saved_weights),
        "tensors": {
            name: {"dtype": str(tensor.dtype).removeprefix("torch."), "shape": list(tensor.shape)}
            for name, tensor in tensors.items()
        },
        "versions": versions(),
        "torch_num_threads": torch.get_num_threads(),
        **extra,
    }
    (folder / "reference.json").write_text(json.dumps(settings, indent=2, sort_keys=False) + "\n")
    return settings


def versions():
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }


def main():
    torch.set_num_threads(1)  # one summation order, whatever machine reruns this
    transformers.utils.logging.disable_progress_bar()
    torch.use_deterministic_algorithms(True)
    selected = sys.argv[1:] or list(CASES)
    for case in selected:
        builder, case_seed = CASES[case]
        settings = make_case(case, builder, case_seed)
        folder = OUTPUT_ROOT / case
        sizes = ", ".join(f"{path.name} {path.stat().st_size}" for path in sorted(folder.iterdir()))
        print(f"{case}: {len(settings['parameters'])} parameters; {sizes}")
    total = sum(path.stat().st_size for path in OUTPUT_ROOT.rglob("*") if path.is_file())
    print(f"total {total} bytes under {OUTPUT_ROOT}")


if __name__ == "__main__":
    main()
