"""The tiny diffusion transformer: a DiT over 2x2 latent patches, as FLUX and Z-Image are built.

Its inputs are FLUX's: `hidden_states` are the latents packed into patch tokens (8x8x4 latents,
patch p -> (8/p)^2 tokens of p*p*4 values, the packing of diffusers' FluxPipeline._pack_latents,
which FLUX does with p = 2; the shipped model uses p = 1, see the README),
`timestep` is the flow time t in [0, 1] (embedded as 1000 t, as FluxTransformer2DModel does),
`encoder_hidden_states` the text encoder's hidden states. It returns the velocity v = noise - x0
in the same packed layout. Blocks are DiT blocks (Peebles & Xie 2023) with adaLN-Zero timestep
modulation and, as in PixArt-alpha, cross-attention to the text between self-attention and MLP.
Attention is plain MatMul/Softmax so every onnxruntime execution provider runs it.
"""
import math

import torch
from torch import nn

from nets import attention, timestep_embedding  # tiny-shapes' own (frozen.py puts them on the path)

PATCH = 1


def pack(latents, patch=PATCH):
    """[B, C, H, W] -> [B, (H/p)(W/p), C p p], channel-major inside a patch (FLUX's order)."""
    b, c, h, w = latents.shape
    x = latents.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (h // patch) * (w // patch), c * patch * patch)


def unpack(tokens, c, h, w, patch=PATCH):
    b = tokens.shape[0]
    x = tokens.reshape(b, h // patch, w // patch, c, patch, patch)
    return x.permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def sincos_2d(side, width):
    """DiT's fixed 2-D sin-cos position embedding (MAE's get_2d_sincos_pos_embed): half the
    channels for the row, half for the column. A learned one starting from noise left shape kind
    at chance after 2,400 steps here: the tokens had no sense of which are neighbours."""
    quarter = width // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    coords = torch.arange(side, dtype=torch.float32)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")
    parts = []
    for grid in (rows.reshape(-1), cols.reshape(-1)):
        angles = grid[:, None] * omega[None]
        parts += [torch.sin(angles), torch.cos(angles)]
    return torch.cat(parts, dim=1)


def modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


class Block(nn.Module):
    def __init__(self, width, text, heads):
        super().__init__()
        self.heads = heads
        self.n1 = nn.LayerNorm(width, eps=1e-6)
        self.n2 = nn.LayerNorm(width)
        self.n3 = nn.LayerNorm(width, eps=1e-6)
        self.qkv, self.o1 = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.q, self.kv, self.o2 = nn.Linear(width, width), nn.Linear(text, 2 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(approximate="tanh"), nn.Linear(4 * width, width))
        self.ada = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x, temb, ctx):
        s1, c1, g1, s2, c2, g2 = self.ada(nn.functional.silu(temb)).chunk(6, dim=-1)
        q, k, v = self.qkv(modulate(self.n1(x), s1, c1)).chunk(3, dim=-1)
        x = x + g1[:, None] * self.o1(attention(q, k, v, self.heads))
        k, v = self.kv(ctx).chunk(2, dim=-1)
        x = x + self.o2(attention(self.q(self.n2(x)), k, v, self.heads))
        return x + g2[:, None] * self.mlp(modulate(self.n3(x), s2, c2))


class FlowTransformer(nn.Module):
    def __init__(self, tokens=16, in_channels=16, text=64, width=128, depth=4, heads=4):
        super().__init__()
        self.x_in = nn.Linear(in_channels, width)
        self.register_buffer("position", sincos_2d(int(math.isqrt(tokens)), width))
        self.time = nn.Sequential(nn.Linear(256, width), nn.SiLU(), nn.Linear(width, width))
        self.ctx_in = nn.Linear(text, text)
        self.blocks = nn.ModuleList(Block(width, text, heads) for _ in range(depth))
        self.n_out = nn.LayerNorm(width, eps=1e-6)
        self.ada_out = nn.Linear(width, 2 * width)
        self.x_out = nn.Linear(width, in_channels)
        for m in (self.ada_out, self.x_out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, hidden_states, timestep, encoder_hidden_states):
        temb = self.time(timestep_embedding(timestep * 1000.0, 256))
        ctx = self.ctx_in(encoder_hidden_states)
        x = self.x_in(hidden_states) + self.position
        for block in self.blocks:
            x = block(x, temb, ctx)
        shift, scale = self.ada_out(nn.functional.silu(temb)).chunk(2, dim=-1)
        return self.x_out(modulate(self.n_out(x), shift, scale))
