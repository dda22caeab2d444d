"""PyTorch twin of the policy-pi0fast training step for any preset, on CUDA (issue 10).

The same design as step.py (SigLIP-style ViT -> linear projector -> Gemma-style decoder with RMSNorm
(1+w), RoPE, grouped KV heads, GeGLU, tied head; prefix-LM mask; cross-entropy on the action tokens;
AdamW lr 1e-4, betas 0.9/0.95, eps 1e-8, wd 0.01, clip 1.0) with the shapes read from a JSON file
that the tfjs side writes from the package's own pi0FastConfig(preset), so both run the same sizes.
fp32 with TF32 matmuls (PyTorch's default on Ampere+ when allowed), or --bf16 autocast.
Prints one JSON line.

  python3 webgpu-twin.py --config preset.json --batch 8 --steps 10 [--device cuda] [--bf16]
"""
import argparse
import json
import resource
import time

import torch

from twin_model import Pi0Fast


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="JSON with vision, decoder, tokenizer_max_length, max_action_tokens")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    with open(args.config) as f:
        cfg = json.load(f)
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    v, d = cfg["vision"], cfg["decoder"]
    model = Pi0Fast(v, d).to(dev)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01)
    B, lp, la = args.batch, cfg["tokenizer_max_length"], cfg["max_action_tokens"]
    images = torch.rand(B, 3, v["image_size"], v["image_size"], device=dev) * 2 - 1
    prompt = torch.randint(0, d["vocab_size"], (B, lp), device=dev)
    actions = torch.randint(0, d["vocab_size"], (B, la), device=dev)
    action_mask = torch.ones(B, la, device=dev)
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    times, losses = [], []
    for step in range(args.steps + 2):
        if cuda:
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=args.bf16):
            loss = model(images, prompt, actions, action_mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if cuda:
            torch.cuda.synchronize(dev)
        if step >= 2:
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(json.dumps({
        "impl": f"pytorch {torch.__version__} {'bf16 autocast' if args.bf16 else 'fp32/TF32'}",
        "device": torch.cuda.get_device_name(dev) if cuda else "cpu",
        "batch": B,
        "params": params,
        "step_ms_median": times[len(times) // 2],
        "step_ms_best": times[0],
        "peak_device_gb": torch.cuda.max_memory_allocated(dev) / 1e9 if cuda else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }))


if __name__ == "__main__":
    main()
