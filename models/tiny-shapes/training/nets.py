"""The three networks of tiny-shapes, with Stable Diffusion's parts at a small scale.

Attention is written with plain matmuls so the ONNX export uses only MatMul/Softmax, which
every onnxruntime execution provider supports.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

TEXT_WIDTH = 64
LATENT_CHANNELS = 4


def attention(q, k, v, heads, mask=None):
    b, n, d = q.shape
    m = k.shape[1]
    q = q.reshape(b, n, heads, d // heads).transpose(1, 2)
    k = k.reshape(b, m, heads, d // heads).transpose(1, 2)
    v = v.reshape(b, m, heads, d // heads).transpose(1, 2)
    w = (q @ k.transpose(-1, -2)) / math.sqrt(d // heads)
    if mask is not None:
        w = w + mask
    return (w.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)


class TextLayer(nn.Module):
    def __init__(self, width, heads=4):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, x, mask):
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        x = x + self.proj(attention(q, k, v, self.heads, mask))
        return x + self.mlp(self.ln2(x))


class TextEncoder(nn.Module):
    """CLIP's text transformer in miniature: causal self-attention, final LayerNorm."""

    def __init__(self, vocab_size, width=TEXT_WIDTH, layers=2, length=77):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width)
        self.position = nn.Parameter(torch.randn(length, width) * 0.01)
        self.layers = nn.ModuleList(TextLayer(width) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.register_buffer("mask", torch.full((length, length), float("-inf")).triu(1), persistent=False)

    def forward(self, input_ids):
        x = self.embed(input_ids.long()) + self.position
        for layer in self.layers:
            x = layer(x, self.mask)
        return self.ln(x)


def norm(c):
    return nn.GroupNorm(8, c)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb=None):
        super().__init__()
        self.n1, self.c1 = norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.n2, self.c2 = norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.t = nn.Linear(temb, cout) if temb else None
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, t=None):
        h = self.c1(F.silu(self.n1(x)))
        if self.t is not None:
            h = h + self.t(t)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class AutoEncoder(nn.Module):
    """64x64x3 <-> 8x8x4. Deterministic encoder (the mean), as the pipeline uses SD's VAE."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), ResBlock(16, 16),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), ResBlock(32, 32),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), ResBlock(64, 64),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), ResBlock(64, 64),
            norm(64), nn.SiLU(), nn.Conv2d(64, LATENT_CHANNELS, 3, padding=1),
        )
        up = lambda cin, cout: [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1), ResBlock(cout, cout)]
        self.decoder = nn.Sequential(
            nn.Conv2d(LATENT_CHANNELS, 64, 3, padding=1), ResBlock(64, 64),
            *up(64, 64), *up(64, 32), *up(32, 16),
            norm(16), nn.SiLU(), nn.Conv2d(16, 3, 3, padding=1),
        )

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)


class CrossAttention(nn.Module):
    """Self-attention over the latent pixels, then cross-attention on the text, then a MLP."""

    def __init__(self, c, text=TEXT_WIDTH, heads=4):
        super().__init__()
        self.heads = heads
        self.n1, self.n2, self.n3 = nn.LayerNorm(c), nn.LayerNorm(c), nn.LayerNorm(c)
        self.qkv = nn.Linear(c, 3 * c)
        self.o1 = nn.Linear(c, c)
        self.q, self.kv = nn.Linear(c, c), nn.Linear(text, 2 * c)
        self.o2 = nn.Linear(c, c)
        self.mlp = nn.Sequential(nn.Linear(c, 2 * c), nn.GELU(), nn.Linear(2 * c, c))

    def forward(self, x, ctx):
        b, c, h, w = x.shape
        s = x.flatten(2).transpose(1, 2)
        q, k, v = self.qkv(self.n1(s)).chunk(3, dim=-1)
        s = s + self.o1(attention(q, k, v, self.heads))
        k, v = self.kv(ctx).chunk(2, dim=-1)
        s = s + self.o2(attention(self.q(self.n2(s)), k, v, self.heads))
        s = s + self.mlp(self.n3(s))
        return s.transpose(1, 2).reshape(b, c, h, w)


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class UNet(nn.Module):
    """Epsilon-prediction UNet on 8x8 latents: two resolutions, cross-attention at both."""

    def __init__(self, c1=64, c2=128, temb=256):
        super().__init__()
        self.temb_in = 64
        self.time = nn.Sequential(nn.Linear(64, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.conv_in = nn.Conv2d(LATENT_CHANNELS, c1, 3, padding=1)
        self.d1, self.a1 = ResBlock(c1, c1, temb), CrossAttention(c1)
        self.down = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.d2, self.a2 = ResBlock(c1, c2, temb), CrossAttention(c2)
        self.m1, self.am, self.m2 = ResBlock(c2, c2, temb), CrossAttention(c2), ResBlock(c2, c2, temb)
        self.u2, self.b2 = ResBlock(c2 + c2, c2, temb), CrossAttention(c2)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c2, c2, 3, padding=1))
        self.u1, self.b1 = ResBlock(c2 + c1, c1, temb), CrossAttention(c1)
        self.out = nn.Sequential(norm(c1), nn.SiLU(), nn.Conv2d(c1, LATENT_CHANNELS, 3, padding=1))

    def forward(self, sample, timestep, encoder_hidden_states):
        t = self.time(timestep_embedding(timestep, self.temb_in))
        ctx = encoder_hidden_states
        h1 = self.a1(self.d1(self.conv_in(sample), t), ctx)
        h2 = self.a2(self.d2(self.down(h1), t), ctx)
        m = self.m2(self.am(self.m1(h2, t), ctx), t)
        u = self.b2(self.u2(torch.cat([m, h2], 1), t), ctx)
        u = self.b1(self.u1(torch.cat([self.up(u), h1], 1), t), ctx)
        return self.out(u)
