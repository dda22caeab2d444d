"""PyTorch twin of the policy-pi0fast `tiny` (default) or `small` preset's training step (issues 7, 17).

SigLIP-style ViT (2 x 128, 4 heads, MLP 512, 64x64 images, 8x8 patches) -> linear projector ->
Gemma-style decoder (4 x 256, 4 heads, 1 KV head, head_dim 64, GeGLU 1024, RMSNorm (1+w), RoPE,
tied head, vocab 2048) over [64 image + 48 prompt | 64 action] tokens with a prefix-LM mask,
cross-entropy on the action tokens, AdamW (lr 2.5e-5, betas 0.9/0.95, eps 1e-8, wd 0.01) with
grad-norm clipping at 1.0; batch 8. Prints one JSON line.

`small`: ViT 4 x 256 on 112x112 (14x14 patches), decoder 6 x 512, 8 heads, GeGLU 2048, vocab 4096,
[64 image + 96 prompt | 128 action] tokens.

Run with Debian's python3-torch: /usr/bin/python3 step.py [--steps N] [--threads T] [--preset tiny|small]
"""
import argparse
import json
import resource
import time

import torch

from twin_model import Pi0Fast

PRESETS = {
    "tiny": (
        dict(image_size=64, patch_size=8, width=128, depth=2, mlp_dim=512, heads=4),
        dict(width=256, depth=4, mlp_dim=1024, heads=4, kv_heads=1, head_dim=64, vocab_size=2048),
        48, 64,
    ),
    "small": (
        dict(image_size=112, patch_size=14, width=256, depth=4, mlp_dim=1024, heads=4),
        dict(width=512, depth=6, mlp_dim=2048, heads=8, kv_heads=1, head_dim=64, vocab_size=4096),
        96, 128,
    ),
}
BATCH = 8


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--batch", type=int, default=BATCH)
    args = ap.parse_args()
    VISION, DECODER, PROMPT, ACTIONS = PRESETS[args.preset]
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Pi0Fast(VISION, DECODER)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=2.5e-5, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01)
    batch = args.batch
    images = torch.rand(batch, 3, VISION["image_size"], VISION["image_size"]) * 2 - 1
    prompt = torch.randint(0, DECODER["vocab_size"], (batch, PROMPT))
    actions = torch.randint(0, DECODER["vocab_size"], (batch, ACTIONS))
    action_mask = torch.ones(batch, ACTIONS)
    # the targets of 3/4 of the action block (48 of 64 for tiny), as inputs.mjs
    action_mask[:, ACTIONS * 3 // 4:] = 0
    times, cpu_times, losses = [], [], []
    for step in range(args.steps + 2):
        t0 = time.perf_counter()
        c0 = time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = model(images, prompt, actions, action_mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        dc = time.process_time() - c0
        losses.append(loss.item())
        if step >= 2:
            times.append(dt * 1000)
            cpu_times.append(dc * 1000)
    times.sort()
    cpu_times.sort()
    print(json.dumps({
        "impl": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "params": params,
        "step_ms_median": times[len(times) // 2],
        "step_ms_best": times[0],
        "cpu_ms_median": cpu_times[len(cpu_times) // 2],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }))


if __name__ == "__main__":
    main()
