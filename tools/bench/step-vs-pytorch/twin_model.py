"""The PyTorch twin of policy-pi0fast's model, shared by step.py (CPU, `tiny`) and webgpu-twin.py (CUDA,
any preset): SigLIP-style ViT -> linear projector -> Gemma-style decoder (RMSNorm (1+w), RoPE, grouped
KV heads, GeGLU, tied head), prefix-LM mask, cross-entropy on the action tokens. Shapes come from the
package's config keys (vision: image_size, patch_size, width, depth, mlp_dim, heads; decoder: width,
depth, mlp_dim, heads, kv_heads, head_dim, vocab_size).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


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
        self.gate_proj = nn.Linear(w, d["mlp_dim"], bias=False)
        self.up_proj = nn.Linear(w, d["mlp_dim"], bias=False)
        self.down_proj = nn.Linear(d["mlp_dim"], w, bias=False)

    def forward(self, x, cos, sin, bias):
        b, n, _ = x.shape
        h = self.input_layernorm(x)
        q = rope(self.q_proj(h).view(b, n, self.heads, self.hd).transpose(1, 2), cos, sin)
        k = rope(self.k_proj(h).view(b, n, self.kv, self.hd).transpose(1, 2), cos, sin)
        v = self.v_proj(h).view(b, n, self.kv, self.hd).transpose(1, 2)
        rep = self.heads // self.kv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.hd) + bias, dim=-1)
        x = x + self.o_proj((att @ v).transpose(1, 2).reshape(b, n, -1))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.gelu(self.gate_proj(h), approximate="tanh") * self.up_proj(h))


class Pi0Fast(nn.Module):
    def __init__(self, v, d):
        super().__init__()
        self.v, self.d = v, d
        patches = (v["image_size"] // v["patch_size"]) ** 2
        self.patch_embedding = nn.Linear(3 * v["patch_size"] ** 2, v["width"])
        self.position_embedding = nn.Parameter(torch.randn(patches, v["width"]) * 0.02)
        self.vision_layers = nn.ModuleList(VisionBlock(v["width"], v["mlp_dim"], v["heads"]) for _ in range(v["depth"]))
        self.post_layernorm = nn.LayerNorm(v["width"], eps=1e-6)
        self.projector = nn.Linear(v["width"], d["width"])
        self.embed_tokens = nn.Embedding(d["vocab_size"], d["width"])
        self.layers = nn.ModuleList(DecoderLayer(d) for _ in range(d["depth"]))
        self.norm = RMSNorm(d["width"])
        nn.init.normal_(self.embed_tokens.weight, std=0.02)

    def hidden(self, images, prompt, actions):
        """Final-norm hidden states [B, n, width] of images + prompt + actions, and the prefix length."""
        v, d = self.v, self.d
        b, p = images.shape[0], v["patch_size"]
        g = v["image_size"] // p
        x = images.view(b, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, 3 * p * p)
        x = self.patch_embedding(x) + self.position_embedding
        for layer in self.vision_layers:
            x = layer(x)
        img = self.projector(self.post_layernorm(x))
        tokens = torch.cat([prompt, actions], dim=1)
        emb = self.embed_tokens(tokens) * math.sqrt(d["width"])
        h = torch.cat([img, emb], dim=1)
        n, prefix = h.shape[1], img.shape[1] + prompt.shape[1]
        allowed = torch.ones(n, n, dtype=torch.bool, device=h.device).tril()
        allowed[:prefix, :prefix] = True
        bias = torch.zeros(n, n, device=h.device).masked_fill(~allowed, -1e9)
        pos = torch.arange(n, dtype=torch.float32, device=h.device)
        inv = 1.0 / (10000 ** (torch.arange(0, d["head_dim"], 2, dtype=torch.float32, device=h.device) / d["head_dim"]))
        ang = pos[:, None] * inv[None, :]
        cos, sin = ang.cos(), ang.sin()
        for layer in self.layers:
            h = layer(h, cos, sin, bias)
        return self.norm(h), prefix

    def forward(self, images, prompt, actions, action_mask):
        h, prefix = self.hidden(images, prompt, actions)
        logits = h[:, prefix - 1 : h.shape[1] - 1] @ self.embed_tokens.weight.T
        ce = F.cross_entropy(logits.reshape(-1, self.d["vocab_size"]).float(), actions.reshape(-1), reduction="none")
        mask = action_mask.reshape(-1).float()
        return (ce * mask).sum() / mask.sum()
