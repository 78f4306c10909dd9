#!/usr/bin/env python3
"""The PyTorch side of bench/fthost-bench-train: the same ~20M-parameter Llama (transformers,
random init, sdpa attention), the same batch, sequence and thread count, full fine-tuning in f32
with AdamW, or with --lora R a PEFT LoRA of rank R on all linear layers. Prints one line:
tokens/s, GFLOP/s (6 * parameters * tokens/s; 4 * for LoRA) and max RSS. --device cuda runs on the
GPU (peak memory from torch.cuda.max_memory_allocated); --model 1b is the ~1.1B Llama of the GPU benchmark.
Run by the C++ benchmark; needs torch and transformers (and peft for --lora; see tools/README.md)."""
import argparse
import resource
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=5)
parser.add_argument("--batch", type=int, default=4)
parser.add_argument("--seq", type=int, default=256)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--lora", type=int, default=0, help="LoRA rank on all linear layers; 0: full fine-tuning")
parser.add_argument("--bf16", action="store_true", help="forward and loss under torch.autocast(device, torch.bfloat16)")
parser.add_argument("--model", choices=["small", "1b"], default="small",
                    help="small: the ~20M Llama; 1b: TinyLlama's shape (~1.1B)")
parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
args = parser.parse_args()

try:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
except ImportError as missing:
    print(f"unavailable ({missing})")
    sys.exit(0)

if args.device == "cuda" and not torch.cuda.is_available():
    print("unavailable (torch sees no CUDA device)")
    sys.exit(0)
torch.set_num_threads(args.threads)
torch.manual_seed(1)
if args.model == "small":
    config = LlamaConfig(vocab_size=8192, hidden_size=512, intermediate_size=1376, num_hidden_layers=6,
                         num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=1024,
                         rms_norm_eps=1e-5, tie_word_embeddings=True, attn_implementation="sdpa")
else:
    config = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                         num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=4096,
                         rms_norm_eps=1e-5, tie_word_embeddings=False, attn_implementation="sdpa")
model = LlamaForCausalLM(config).to(args.device)
parameters = sum(p.numel() for p in model.parameters())
flops_factor = 6
if args.lora > 0:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as missing:
        print(f"unavailable ({missing})")
        sys.exit(0)
    model = get_peft_model(model, LoraConfig(r=args.lora, lora_alpha=2 * args.lora, target_modules="all-linear"))
    flops_factor = 4  # the frozen base needs no weight gradients
trainable = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.AdamW(trainable, lr=1e-4)
ids = torch.randint(0, config.vocab_size, (args.batch, args.seq), device=args.device)


def step():
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.bf16):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    optimizer.step()


def synchronize():
    if args.device == "cuda":
        torch.cuda.synchronize()


step()  # warm-up
synchronize()
if args.device == "cuda":
    torch.cuda.reset_peak_memory_stats()
start = time.perf_counter()
for _ in range(args.steps):
    step()
synchronize()
elapsed = time.perf_counter() - start
tokens_per_second = args.steps * args.batch * args.seq / elapsed
gflops = flops_factor * parameters * tokens_per_second / 1e9
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if args.device == "cuda":
    peak = torch.cuda.max_memory_allocated() / 1048576
    print(f"{tokens_per_second:8.0f} tokens/s  {gflops:9.1f} GFLOP/s  MFU {100 * gflops / 989e3:5.1f}% of 989 TFLOP/s  "
          f"({parameters / 1e6:.1f}M parameters, torch {torch.__version__}, {torch.cuda.get_device_name()})  "
          f"peak allocated {peak:8.1f} MiB  max RSS {rss:7.1f} MiB")
else:
    print(f"{tokens_per_second:8.0f} tokens/s  {gflops:7.1f} GFLOP/s  ({parameters / 1e6:.1f}M parameters, "
          f"torch {torch.__version__}, {args.threads} threads)  max RSS {rss:7.1f} MiB")
