"""A full-size Stable Diffusion 2.1-base UNet (SD-Turbo's) with random weights, as ONNX.

The load benchmark (bench/load.ts) needs a model of real size and real structure: what matters
there is how many bytes of which tensors reach the GPU, not what the network computes, so the
weights are random (seeded). The structure is SD 2.1-base's: block channels 320/640/1280/1280,
two ResNet layers per down block (three per up block), cross-attention at the first three
resolutions with linear projections, head dimension 64, text width 1024, GEGLU feed-forward.

The I/O contract is the catalog's SD-Turbo UNet (src/models/catalog.json), in float32:
sample [batch_size, num_channels, height, width], timestep int64 [steps],
encoder_hidden_states [batch_size, sequence_length, 1024] -> out_sample.

Weights go to external data in shards of at most 1.9 GB (model.onnx_data, model.onnx_data_1, ...,
the quantizer's naming), since an ONNX protobuf is capped at 2 GB.

    python3 bench/full-size/sd_unet.py OUT_DIR [--depth-1280 N]

--depth-1280 2 gives the 1280-channel transformers two layers (as SDXL deepens its inner
blocks): ~1.06 B parameters, external data over 4 GB, the size that cannot fit a wasm32 heap.
"""
import argparse
import math
import os
import shutil
import tempfile
from pathlib import Path

import onnx
import torch
from torch import nn
import torch.nn.functional as F

SHARD_BYTES = 1_900_000_000
TEXT_WIDTH = 1024
HEAD_DIM = 64
OPSET = 17


def norm(c):
    return nn.GroupNorm(32, c, eps=1e-5)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, temb=1280):
        super().__init__()
        self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2, self.conv2 = norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, t):
        h = self.conv1(F.silu(self.norm1(x))) + self.time_emb_proj(F.silu(t))[:, :, None, None]
        return self.shortcut(x) + self.conv2(F.silu(self.norm2(h)))


class Attention(nn.Module):
    def __init__(self, c, context=None):
        super().__init__()
        self.heads = c // HEAD_DIM
        self.to_q = nn.Linear(c, c, bias=False)
        self.to_k = nn.Linear(context or c, c, bias=False)
        self.to_v = nn.Linear(context or c, c, bias=False)
        self.to_out = nn.Linear(c, c)

    def forward(self, x, context=None):
        ctx = x if context is None else context
        b, n, c = x.shape
        split = lambda t: t.reshape(b, -1, self.heads, HEAD_DIM).transpose(1, 2)
        q, k, v = split(self.to_q(x)), split(self.to_k(ctx)), split(self.to_v(ctx))
        w = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(HEAD_DIM))
        return self.to_out((w.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


class TransformerBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm1, self.attn1 = nn.LayerNorm(c), Attention(c)
        self.norm2, self.attn2 = nn.LayerNorm(c), Attention(c, TEXT_WIDTH)
        self.norm3 = nn.LayerNorm(c)
        self.ff_in, self.ff_out = nn.Linear(c, 8 * c), nn.Linear(4 * c, c)  # GEGLU, inner width 4c

    def forward(self, x, ctx):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), ctx)
        h, gate = self.ff_in(self.norm3(x)).chunk(2, dim=-1)
        return x + self.ff_out(h * F.gelu(gate))


class Transformer2D(nn.Module):
    def __init__(self, c, depth):
        super().__init__()
        self.norm = nn.GroupNorm(32, c, eps=1e-6)
        self.proj_in, self.proj_out = nn.Linear(c, c), nn.Linear(c, c)
        self.blocks = nn.ModuleList(TransformerBlock(c) for _ in range(depth))

    def forward(self, x, ctx):
        b, c, h, w = x.shape
        s = self.proj_in(self.norm(x).flatten(2).transpose(1, 2))
        for block in self.blocks:
            s = block(s, ctx)
        return x + self.proj_out(s).transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    def __init__(self, channels=(320, 640, 1280, 1280), attention=(True, True, True, False), depth_1280=1):
        super().__init__()
        depth = lambda c: depth_1280 if c == 1280 else 1
        self.time = nn.Sequential(nn.Linear(channels[0], 1280), nn.SiLU(), nn.Linear(1280, 1280))
        self.conv_in = nn.Conv2d(4, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        skips, cin = [channels[0]], channels[0]
        for i, (c, attn) in enumerate(zip(channels, attention)):
            block = nn.Module()
            block.resnets = nn.ModuleList(ResnetBlock(cin if j == 0 else c, c) for j in range(2))
            block.attentions = nn.ModuleList(Transformer2D(c, depth(c)) for _ in range(2)) if attn else None
            block.downsample = nn.Conv2d(c, c, 3, stride=2, padding=1) if i < len(channels) - 1 else None
            skips += [c, c] + ([c] if block.downsample is not None else [])
            self.down.append(block)
            cin = c
        self.mid_res1, self.mid_attn, self.mid_res2 = ResnetBlock(cin, cin), Transformer2D(cin, depth(cin)), ResnetBlock(cin, cin)
        self.up = nn.ModuleList()
        for i, (c, attn) in enumerate(zip(reversed(channels), reversed(attention))):
            block = nn.Module()
            block.resnets = nn.ModuleList(ResnetBlock((cin if j == 0 else c) + skips.pop(), c) for j in range(3))
            block.attentions = nn.ModuleList(Transformer2D(c, depth(c)) for _ in range(3)) if attn else None
            block.upsample = nn.Conv2d(c, c, 3, padding=1) if i < len(channels) - 1 else None
            self.up.append(block)
            cin = c
        self.out = nn.Sequential(norm(cin), nn.SiLU(), nn.Conv2d(cin, 4, 3, padding=1))
        self.embed_dim = channels[0]

    def time_embedding(self, timestep, batch):
        half = self.embed_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        args = timestep.float()[:, None] * freqs[None]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        return self.time(emb.expand(batch, -1))

    def forward(self, sample, timestep, encoder_hidden_states):
        t = self.time_embedding(timestep, sample.shape[0])
        ctx = encoder_hidden_states
        h = self.conv_in(sample)
        skips = [h]
        for block in self.down:
            for j, resnet in enumerate(block.resnets):
                h = resnet(h, t)
                if block.attentions is not None:
                    h = block.attentions[j](h, ctx)
                skips.append(h)
            if block.downsample is not None:
                h = block.downsample(h)
                skips.append(h)
        h = self.mid_res2(self.mid_attn(self.mid_res1(h, t), ctx), t)
        for block in self.up:
            for j, resnet in enumerate(block.resnets):
                h = resnet(torch.cat([h, skips.pop()], 1), t)
                if block.attentions is not None:
                    h = block.attentions[j](h, ctx)
            if block.upsample is not None:
                h = block.upsample(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(h)


def reshard(exported: Path, out: Path):
    """Rewrites torch's one-file-per-tensor external data into shards of at most SHARD_BYTES."""
    model = onnx.load(str(exported), load_external_data=False)
    shards, offset, handle = [], 0, None
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in tensor.external_data}
            with open(exported.parent / info["location"], "rb") as f:
                f.seek(int(info.get("offset", 0)))
                data = f.read(int(info["length"])) if "length" in info else f.read()
        elif len(tensor.raw_data) >= 1024:
            data = tensor.raw_data
        else:
            continue
        if handle is None or offset + len(data) > SHARD_BYTES:
            if handle is not None:
                handle.close()
            shards.append("model.onnx_data" if not shards else f"model.onnx_data_{len(shards)}")
            handle, offset = open(out / shards[-1], "wb"), 0
        handle.write(data)
        del tensor.external_data[:]
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", shards[-1]), ("offset", str(offset)), ("length", str(len(data)))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        offset += len(data)
    if handle is not None:
        handle.close()
    onnx.save(model, str(out / "model.onnx"))
    return shards


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--depth-1280", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    unet = UNet(depth_1280=args.depth_1280).eval()
    params = sum(p.numel() for p in unet.parameters())
    print(f"parameters: {params / 1e6:.1f} M ({params * 4 / 1e9:.2f} GB float32)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    inputs = (torch.zeros(1, 4, 16, 16), torch.tensor([999], dtype=torch.int64), torch.zeros(1, 77, TEXT_WIDTH))
    with tempfile.TemporaryDirectory(dir=args.out) as tmp, torch.no_grad():
        exported = Path(tmp) / "model.onnx"
        torch.onnx.export(unet, inputs, str(exported), opset_version=OPSET,
                          input_names=["sample", "timestep", "encoder_hidden_states"], output_names=["out_sample"],
                          dynamic_axes={"sample": {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"},
                                        "timestep": {0: "steps"},
                                        "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
                                        "out_sample": {0: "batch_size", 2: "height", 3: "width"}},
                          do_constant_folding=True)
        del unet
        shards = reshard(exported, args.out)
    sizes = [os.path.getsize(args.out / s) for s in shards]
    print(f"wrote {args.out / 'model.onnx'} and {len(shards)} shards: " + ", ".join(f"{s} {n / 1e9:.2f} GB" for s, n in zip(shards, sizes)))


if __name__ == "__main__":
    main()
