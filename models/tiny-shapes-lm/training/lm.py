"""The tiny decoder-only language model that conditions tiny-shapes-lm: a causal transformer as
Qwen3 is built (token embedding, pre-norm blocks of masked causal self-attention and an MLP, a
final norm), small. Its `hidden_states` follow Hugging Face's `output_hidden_states`: index 0
the embeddings, index k the output of block k, the last one after the final norm; the denoiser
takes index -2 (the second-to-last, before the final norm), as Z-Image takes Qwen3-4B's.

Attention masks padding out as keys (the attention mask) and the future (causal); positions are
learnt, counted from 0 on the left, and padding is on the right, so a prompt's own states do not
depend on how much padding follows it.
"""
import math

import torch
from torch import nn

WIDTH = 64
LAYERS = 3
HEADS = 4
MAX_POSITIONS = 32


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.n1, self.n2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.o = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(approximate="tanh"), nn.Linear(4 * width, width))

    def forward(self, x, bias):
        b, n, d = x.shape
        q, k, v = self.qkv(self.n1(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        w = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.heads) + bias
        x = x + self.o((w.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.n2(x))


class DecoderLM(nn.Module):
    def __init__(self, vocab, width=WIDTH, layers=LAYERS, heads=HEADS):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.randn(MAX_POSITIONS, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        # Sliced to the sequence's length: a traced export keeps that length free.
        self.register_buffer("causal", torch.triu(torch.full((MAX_POSITIONS, MAX_POSITIONS), -1e9), diagonal=1), persistent=False)

    def forward(self, input_ids, attention_mask):
        """Every hidden state: [embeddings, block 1, …, block N after the final norm], each [B, L, width]."""
        n = input_ids.shape[1]
        x = self.embed(input_ids) + self.position[:n]
        keys = (1.0 - attention_mask.to(x.dtype))[:, None, None, :] * -1e9
        bias = self.causal[:n, :n][None, None] + keys
        states = [x]
        for block in self.blocks:
            x = block(x, bias)
            states.append(x)
        states[-1] = self.norm(x)
        return states
