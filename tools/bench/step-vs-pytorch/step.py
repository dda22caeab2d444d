"""PyTorch twin of the policy-pi0fast `tiny` preset's training step (issue 7).

SigLIP-style ViT (2 x 128, 4 heads, MLP 512, 64x64 images, 8x8 patches) -> linear projector ->
Gemma-style decoder (4 x 256, 4 heads, 1 KV head, head_dim 64, GeGLU 1024, RMSNorm (1+w), RoPE,
tied head, vocab 2048) over [64 image + 48 prompt | 64 action] tokens with a prefix-LM mask,
cross-entropy on the action tokens, AdamW (lr 2.5e-5, betas 0.9/0.95, eps 1e-8, wd 0.01) with
grad-norm clipping at 1.0; batch 8. Prints one JSON line.

Run with Debian's python3-torch: /usr/bin/python3 step.py [--steps N] [--threads T]
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VISION = dict(image=64, patch=8, width=128, depth=2, mlp=512, heads=4)
DECODER = dict(width=256, depth=4, mlp=1024, heads=4, kv_heads=1, head_dim=64, vocab=2048)
PROMPT, ACTIONS, BATCH = 48, 64, 8


class VisionBlock(nn.Module):
    def __init__(self, w, mlp, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(w, eps=1e-6), nn.LayerNorm(w, eps=1e-6)
        self.q, self.k, self.v, self.o = (nn.Linear(w, w) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(w, mlp), nn.Linear(mlp, w)

    def forward(self, x):
        b, n, w = x.shape
        h = self.ln1(x)
        split = lambda t: t.view(b, n, self.heads, w // self.heads).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(w // self.heads), dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(b, n, w))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class RMSNorm(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(w))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * (1 + self.weight)


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class DecoderLayer(nn.Module):
    def __init__(self, d):
        super().__init__()
        w, hd = d["width"], d["head_dim"]
        self.heads, self.kv, self.hd = d["heads"], d["kv_heads"], hd
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(w), RMSNorm(w)
        self.q_proj = nn.Linear(w, d["heads"] * hd, bias=False)
        self.k_proj = nn.Linear(w, d["kv_heads"] * hd, bias=False)
        self.v_proj = nn.Linear(w, d["kv_heads"] * hd, bias=False)
        self.o_proj = nn.Linear(d["heads"] * hd, w, bias=False)
        self.gate_proj = nn.Linear(w, d["mlp"], bias=False)
        self.up_proj = nn.Linear(w, d["mlp"], bias=False)
        self.down_proj = nn.Linear(d["mlp"], w, bias=False)

    def forward(self, x, cos, sin, bias):
        b, n, _ = x.shape
        h = self.input_layernorm(x)
        q = rope(self.q_proj(h).view(b, n, self.heads, self.hd).transpose(1, 2), cos, sin)
        k = rope(self.k_proj(h).view(b, n, self.kv, self.hd).transpose(1, 2), cos, sin)
        v = self.v_proj(h).view(b, n, self.kv, self.hd).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.hd) + bias, dim=-1)
        x = x + self.o_proj((att @ v).transpose(1, 2).reshape(b, n, -1))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.gelu(self.gate_proj(h), approximate="tanh") * self.up_proj(h))


class Pi0FastTiny(nn.Module):
    def __init__(self):
        super().__init__()
        v, d = VISION, DECODER
        patches = (v["image"] // v["patch"]) ** 2
        self.patch_embedding = nn.Linear(3 * v["patch"] ** 2, v["width"])
        self.position_embedding = nn.Parameter(torch.randn(patches, v["width"]) * 0.02)
        self.vision_layers = nn.ModuleList(VisionBlock(v["width"], v["mlp"], v["heads"]) for _ in range(v["depth"]))
        self.post_layernorm = nn.LayerNorm(v["width"], eps=1e-6)
        self.projector = nn.Linear(v["width"], d["width"])
        self.embed_tokens = nn.Embedding(d["vocab"], d["width"])
        self.layers = nn.ModuleList(DecoderLayer(d) for _ in range(d["depth"]))
        self.norm = RMSNorm(d["width"])
        nn.init.normal_(self.embed_tokens.weight, std=0.02)

    def forward(self, images, prompt, actions, action_mask):
        v, d = VISION, DECODER
        b, p = images.shape[0], v["patch"]
        g = v["image"] // p
        x = images.view(b, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, 3 * p * p)
        x = self.patch_embedding(x) + self.position_embedding
        for layer in self.vision_layers:
            x = layer(x)
        img = self.projector(self.post_layernorm(x))
        tokens = torch.cat([prompt, actions], dim=1)
        emb = self.embed_tokens(tokens) * math.sqrt(d["width"])
        h = torch.cat([img, emb], dim=1)
        n, prefix = h.shape[1], img.shape[1] + prompt.shape[1]
        allowed = torch.ones(n, n, dtype=torch.bool).tril()
        allowed[:prefix, :prefix] = True
        bias = torch.zeros(n, n).masked_fill(~allowed, -1e9)
        pos = torch.arange(n, dtype=torch.float32)
        inv = 1.0 / (10000 ** (torch.arange(0, d["head_dim"], 2, dtype=torch.float32) / d["head_dim"]))
        ang = pos[:, None] * inv[None, :]
        cos, sin = ang.cos(), ang.sin()
        for layer in self.layers:
            h = layer(h, cos, sin, bias)
        h = self.norm(h)
        logits = h[:, prefix - 1 : n - 1] @ self.embed_tokens.weight.T  # predicts each action token
        ce = F.cross_entropy(logits.reshape(-1, d["vocab"]), actions.reshape(-1), reduction="none")
        mask = action_mask.reshape(-1).float()
        return (ce * mask).sum() / mask.sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Pi0FastTiny()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=2.5e-5, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.01)
    images = torch.rand(BATCH, 3, VISION["image"], VISION["image"]) * 2 - 1
    prompt = torch.randint(0, DECODER["vocab"], (BATCH, PROMPT))
    actions = torch.randint(0, DECODER["vocab"], (BATCH, ACTIONS))
    action_mask = torch.ones(BATCH, ACTIONS)
    action_mask[:, 48:] = 0
    times, losses = [], []
    for step in range(args.steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(images, prompt, actions, action_mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        losses.append(loss.item())
        if step >= 2:
            times.append(dt * 1000)
    times.sort()
    print(json.dumps({
        "impl": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "params": params,
        "step_ms_median": times[len(times) // 2],
        "step_ms_best": times[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }))


if __name__ == "__main__":
    main()
