#!/usr/bin/env python3
"""Writes tests/fixtures/peft/ with PEFT (from pip) as the oracle for fthost's LoRA.

For each base model of tests/fixtures/reference/ named below:
  <case>_peft/    an adapter PEFT itself saved (save_pretrained), with B set to small random values so
                  that the adapter changes the output, and reference.safetensors: logits of base +
                  adapter on the reference batch, the causal-LM loss, and the gradient of every LoRA
                  tensor (saved key names). fthost must load this folder and compute the same numbers.
  llama_gqa_head_peft/
                  LoRA on q_proj and on the (untied) output head lm_head.
  llama_gqa_modules_peft/
                  the same with modules_to_save=["lm_head"] (a trained copy of the head, perturbed so
                  it differs from the base) and LoRA on q_proj and v_proj.
  <case>_fthost/  an adapter fthost wrote (`fthost run` with init_lora_weights: false, one step at
                  learning rate 0 (the first warmup step), so A and B are fthost's random init), loaded here with
                  peft.PeftModel.from_pretrained, and reference.safetensors with PEFT's logits for it.
                  This is the check that PEFT reads what fthost writes.
Run by hand after building fthost; fthost never imports this.

    ~/.venvs/fthost-reference/bin/pip install torch transformers peft safetensors
    ~/.venvs/fthost-reference/bin/python tools/make_peft_fixtures.py --fthost build/release/bin/fthost
"""

import argparse
import json
import pathlib
import shutil
import subprocess
import tempfile

import peft
import safetensors.torch
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests/fixtures/reference"
OUTPUT = ROOT / "tests/fixtures/peft"

CASES = {
    # case: (target_modules, PEFT's extra settings)
    "llama_gqa": ("all-linear", {}),
    "gpt2": (["c_attn", "c_proj", "c_fc"], {"fan_in_fan_out": True}),  # GPT-2's Conv1D layers
}
RANK = 4
ALPHA = 8
B_STD = 0.05


def reference_input_ids(case):
    return safetensors.torch.load_file(REFERENCE / case / "reference.safetensors")["input_ids"]


def load_base(case):
    model = AutoModelForCausalLM.from_pretrained(REFERENCE / case, torch_dtype=torch.float32)
    model.eval()  # no dropout anywhere: fthost's eval passes and this must agree
    return model


def causal_lm_loss(logits, input_ids):
    vocab = logits.shape[-1]
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, vocab), input_ids[:, 1:].reshape(-1))


def make_peft_written(case, target_modules, extra, folder_name=None, modules_to_save=None):
    base = load_base(case)
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=target_modules,
                        modules_to_save=modules_to_save, task_type="CAUSAL_LM", **extra)
    torch.manual_seed(11)
    model = get_peft_model(base, config)
    generator = torch.Generator().manual_seed(12)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * B_STD)
            if "modules_to_save" in name:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * B_STD)
    folder = OUTPUT / (folder_name or f"{case}_peft")
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder)
    # base_model_name_or_path is the absolute path of this machine: make it the fixture's relative one
    config_file = folder / "adapter_config.json"
    saved = json.loads(config_file.read_text())
    saved["base_model_name_or_path"] = f"../reference/{case}"
    if isinstance(saved.get("target_modules"), list):  # PEFT writes a set: order by name, for stable files
        saved["target_modules"] = sorted(saved["target_modules"])
    config_file.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")

    input_ids = reference_input_ids(case)
    logits = model(input_ids=input_ids).logits
    loss = causal_lm_loss(logits, input_ids)
    loss.backward()
    tensors = {"logits": logits.detach().contiguous(), "loss": loss.detach().reshape(1)}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            # PEFT's saved names drop the adapter name, and a module copy's wrapper
            key = name.replace(".modules_to_save.default", "").replace(".default", "")
            tensors["grad." + key] = parameter.grad.detach().contiguous()
    safetensors.torch.save_file(tensors, folder / "reference.safetensors")
    return folder


def make_fthost_written(case, target_modules, fthost):
    folder = OUTPUT / f"{case}_fthost"
    shutil.rmtree(folder, ignore_errors=True)
    input_ids = reference_input_ids(case)
    targets = json.dumps(target_modules if isinstance(target_modules, list) else [target_modules])
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        with open(scratch / "train.jsonl", "w") as data:
            for row in input_ids.tolist():
                data.write(json.dumps({"input_ids": row}) + "\n")
        (scratch / "pipeline.yaml").write_text(
            f"model: {{path: {REFERENCE / case}}}\n"
            f"data: {{train: train.jsonl, format: tokens, seq_len: {input_ids.shape[1]}}}\n"
            "training: {max_steps: 1, learning_rate: 1.0e-3, warmup_steps: 10, micro_batch_size: 1, seed: 5}\n"
            f"adapter: {{plugin: lora, r: {RANK}, lora_alpha: {ALPHA}, target_modules: {targets},"
            " init_lora_weights: 'false'}\n"
            "output: {dir: out}\n")
        subprocess.run([fthost, "run", str(scratch / "pipeline.yaml")], check=True, capture_output=True)
        shutil.copytree(scratch / "out/final", folder,
                        ignore=shutil.ignore_patterns("tokenizer*", "special_tokens_map.json", "generation_config.json"))
    config_file = folder / "adapter_config.json"
    saved = json.loads(config_file.read_text())
    saved["base_model_name_or_path"] = f"../reference/{case}"
    config_file.write_text(json.dumps(saved, indent=2) + "\n")

    model = PeftModel.from_pretrained(load_base(case), folder)  # the check: PEFT reads fthost's folder
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits
    safetensors.torch.save_file({"logits": logits.contiguous()}, folder / "reference.safetensors")
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fthost", required=True, help="the fthost executable that writes the *_fthost adapters")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for case, (target_modules, extra) in CASES.items():
        print("wrote", make_peft_written(case, target_modules, extra))
        print("wrote", make_fthost_written(case, target_modules, arguments.fthost))
    print("wrote", make_peft_written("llama_gqa", ["q_proj", "v_proj"], {}, folder_name="llama_gqa_modules_peft",
                                     modules_to_save=["lm_head"]))
    print("wrote", make_peft_written("llama_gqa", ["q_proj", "lm_head"], {}, folder_name="llama_gqa_head_peft"))
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
    (OUTPUT / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")


if __name__ == "__main__":
    main()
