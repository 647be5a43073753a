"""Full-size SD-Turbo stand-ins for the GPU bench, and the native PyTorch reference on them.

Random weights (seeded), real architecture: the UNet is bench/full-size/sd_unet.py's (SD 2.1-base,
866 M parameters); beside it a VAE decoder with SD's structure (AutoencoderKL, 4 latent
channels, blocks 128/256/512/512, one attention in the middle) and a CLIP text encoder the size of
SD-Turbo's OpenCLIP ViT-H (width 1024, 23 layers as SD 2 uses them, 16 heads, vocab 49408).
Each goes out as a model folder our engine loads (manifest.json, tokenizer, scheduler config):

    python3 bench/gpu/stand_ins.py OUT_DIR [--small] [--reference] [--report FILE] [--variants fp32,fp16] [--export-device cpu]

OUT_DIR/fp32/ and OUT_DIR/fp16/ (weights and I/O in float16; only where CUDA is there to trace a
half-precision model on: torch on a CPU has no half convolutions before 2.x). With --reference,
first times the same modules in PyTorch (eager; fp16 and fp32 on CUDA, fp32 on a CPU): a UNet
step at the latent size, the VAE decode, the text encoder, one 1-step picture, peak memory.

--small shrinks every part (channels, layers, vocab) so that the whole path
runs on a CPU with SwiftShader in minutes (a 64x64 picture). Works on torch 1.13 (Debian) and 2.x.
"""
import argparse
import hashlib
import inspect
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "full-size"))
import sd_unet  # noqa: E402  (bench/full-size/sd_unet.py)

TOKENIZER = HERE.parent.parent / "models/tiny-shapes/tokenizer"
SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "trailing",
    "steps_offset": 1,
}
SIZES = {
    # unet channels, text layers, text vocab, vae channels, picture side
    "full": dict(unet=(320, 640, 1280, 1280), layers=23, vocab=49408, vae=(128, 256, 512, 512), side=512),
    "small": dict(unet=(64, 128, 128, 128), layers=1, vocab=1024, vae=(32, 32, 32, 32), side=64),
}


def norm(c):
    return nn.GroupNorm(32, c, eps=1e-6)


class VaeResnet(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return self.shortcut(x) + self.conv2(F.silu(self.norm2(h)))


class VaeAttention(nn.Module):
    """One head over every latent cell (AutoencoderKL's mid-block attention)."""

    def __init__(self, c):
        super().__init__()
        self.norm = norm(c)
        self.to_q, self.to_k, self.to_v, self.to_out = (nn.Linear(c, c) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        s = self.norm(x).flatten(2).transpose(1, 2)
        q, k, v = self.to_q(s), self.to_k(s), self.to_v(s)
        a = ((q @ k.transpose(1, 2)) * (1 / math.sqrt(c))).softmax(-1) @ v
        return x + self.to_out(a).transpose(1, 2).reshape(b, c, h, w)


class VaeDecoder(nn.Module):
    """latent_sample [b, 4, h, w] -> sample [b, 3, 8h, 8w]: SD's decoder (post-quant conv included)."""

    def __init__(self, channels):
        super().__init__()
        top = channels[-1]
        self.post_quant_conv = nn.Conv2d(4, 4, 1)
        self.conv_in = nn.Conv2d(4, top, 3, padding=1)
        self.mid = nn.ModuleList([VaeResnet(top, top), VaeAttention(top), VaeResnet(top, top)])
        self.up = nn.ModuleList()
        cin = top
        for i, c in enumerate(reversed(channels)):
            block = nn.Module()
            block.resnets = nn.ModuleList(VaeResnet(cin if j == 0 else c, c) for j in range(3))
            block.upsample = nn.Conv2d(c, c, 3, padding=1) if i < len(channels) - 1 else None
            self.up.append(block)
            cin = c
        self.out = nn.Sequential(norm(cin), nn.SiLU(), nn.Conv2d(cin, 3, 3, padding=1))

    def forward(self, latent_sample):
        h = self.conv_in(self.post_quant_conv(latent_sample))
        for layer in self.mid:
            h = layer(h)
        for block in self.up:
            for resnet in block.resnets:
                h = resnet(h)
            if block.upsample is not None:
                h = block.upsample(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(h)


class TextLayer(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.fc1, self.fc2 = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x, mask):
        b, n, c = x.shape
        q, k, v = self.qkv(self.ln_1(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        w = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(c // self.heads)) + mask
        x = x + self.proj((w.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))
        return x + self.fc2(F.gelu(self.fc1(self.ln_2(x))))


class TextEncoder(nn.Module):
    """input_ids int32 [b, 77] -> last_hidden_state [b, 77, 1024]: a causal CLIP text transformer."""

    def __init__(self, vocab, layers, width=sd_unet.TEXT_WIDTH, heads=16, length=77):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.position_embedding = nn.Parameter(torch.randn(length, width) * 0.01)
        self.layers = nn.ModuleList(TextLayer(width, heads) for _ in range(layers))
        self.final_layer_norm = nn.LayerNorm(width)
        # A buffer, so that .half() converts it with the weights.
        self.register_buffer("mask", torch.full((length, length), float("-inf")).triu(1))

    def forward(self, input_ids):
        x = self.token_embedding(input_ids.long()) + self.position_embedding
        for layer in self.layers:
            x = layer(x, self.mask)
        return self.final_layer_norm(x)


def unet_time_embedding(self, timestep, batch):
    """sd_unet.UNet's sinusoidal embedding, in the weights' dtype (a float16 UNet needs it so)."""
    half = self.embed_dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=timestep.device) / half)
    args = timestep.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1).to(self.time[0].weight.dtype)
    return self.time(emb.expand(batch, -1))


sd_unet.UNet.time_embedding = unet_time_embedding


def build(size):
    torch.manual_seed(0)
    s = SIZES[size]
    parts = {
        "text_encoder": TextEncoder(s["vocab"], s["layers"]),
        "unet": sd_unet.UNet(channels=s["unet"]),
        "vae_decoder": VaeDecoder(s["vae"]),
    }
    return {name: module.eval() for name, module in parts.items()}, s["side"]


def example_inputs(name, side, device, dtype):
    latent = side // 8
    if name == "text_encoder":
        return (torch.zeros(1, 77, dtype=torch.int32, device=device),)
    if name == "unet":
        return (
            torch.randn(1, 4, latent, latent, device=device, dtype=dtype),
            torch.tensor([999], dtype=torch.int64, device=device),
            torch.randn(1, 77, sd_unet.TEXT_WIDTH, device=device, dtype=dtype),
        )
    return (torch.randn(1, 4, latent, latent, device=device, dtype=dtype),)


IO = {
    "text_encoder": (["input_ids"], ["last_hidden_state"], {"input_ids": {0: "batch_size"}, "last_hidden_state": {0: "batch_size"}}),
    "unet": (
        ["sample", "timestep", "encoder_hidden_states"],
        ["out_sample"],
        {
            "sample": {0: "batch_size", 2: "height", 3: "width"},
            "timestep": {0: "steps"},
            "encoder_hidden_states": {0: "batch_size"},
            "out_sample": {0: "batch_size", 2: "height", 3: "width"},
        },
    ),
    "vae_decoder": (
        ["latent_sample"],
        ["sample"],
        {"latent_sample": {0: "batch_size", 2: "height_latent", 3: "width_latent"}, "sample": {0: "batch_size", 2: "height", 3: "width"}},
    ),
}


def timed(fn, device, repeats):
    """Median milliseconds of `fn()` after two warm-up calls, the GPU synchronised around each."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - started) * 1000)
    return round(sorted(times)[len(times) // 2], 2)


def sdpa_attention(self, x, context=None):
    """sd_unet.Attention through F.scaled_dot_product_attention (flash / memory-efficient kernels), as diffusers runs it."""
    ctx = x if context is None else context
    b, n, c = x.shape
    split = lambda t: t.reshape(b, -1, self.heads, sd_unet.HEAD_DIM).transpose(1, 2)
    out = F.scaled_dot_product_attention(split(self.to_q(x)), split(self.to_k(ctx)), split(self.to_v(ctx)))
    return self.to_out(out.transpose(1, 2).reshape(b, n, c))


def reference(parts, side, device, repeats):
    """The native figures: the same modules in eager PyTorch."""
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu", "side": side, "variants": {}}
    dtypes = [torch.float16, torch.float32] if device.type == "cuda" else [torch.float32]
    plain_attention = sd_unet.Attention.forward
    for dtype in dtypes:
        label = "fp16" if dtype == torch.float16 else "fp32"
        entry = {}
        out["variants"][label] = entry
        try:
            modules = {name: m.to(device=device, dtype=dtype) for name, m in parts.items()}
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            ids, = example_inputs("text_encoder", side, device, dtype)
            sample, timestep, context = example_inputs("unet", side, device, dtype)
            with torch.no_grad():
                entry["unetStepMs"] = timed(lambda: modules["unet"](sample, timestep, context), device, repeats)
                entry["vaeDecodeMs"] = timed(lambda: modules["vae_decoder"](sample), device, repeats)
                entry["textEncodeMs"] = timed(lambda: modules["text_encoder"](ids), device, repeats)

                def picture():
                    hidden = modules["text_encoder"](ids)
                    eps = modules["unet"](sample * 14.6146, timestep, hidden)
                    return modules["vae_decoder"]((sample * 14.6146 - 14.6146 * eps) / 0.18215)

                entry["picture1Ms"] = timed(picture, device, repeats)
                # Whether these random weights stay finite in this precision (our engine refuses NaN pictures).
                entry["picture1Finite"] = bool(torch.isfinite(picture()).all())
                if hasattr(F, "scaled_dot_product_attention"):
                    sd_unet.Attention.forward = sdpa_attention
                    try:
                        entry["unetStepSdpaMs"] = timed(lambda: modules["unet"](sample, timestep, context), device, repeats)
                    finally:
                        sd_unet.Attention.forward = plain_attention
            if device.type == "cuda":
                entry["peakAllocatedMiB"] = round(torch.cuda.max_memory_allocated() / 2**20)
        except Exception as error:  # each variant reports its own failure; the rest still runs
            entry["error"] = f"{type(error).__name__}: {error}"[:1000]
        print(f"reference {label}: {json.dumps(entry)}", flush=True)
    for name, m in parts.items():
        parts[name] = m.to(device="cpu", dtype=torch.float32)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def export(module, name, inputs, folder):
    """One network as folder/name/model.onnx with its weights in sd_unet's external-data shards."""
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    input_names, output_names, axes = IO[name]
    kwargs = dict(opset_version=sd_unet.OPSET, input_names=input_names, output_names=output_names, dynamic_axes=axes, do_constant_folding=True)
    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    if has_dynamo:
        kwargs["dynamo"] = False  # torch 2.9+ defaults to the dynamo exporter; sd_unet's graphs come from the TorchScript one
    with tempfile.TemporaryDirectory(dir=folder) as tmp, torch.no_grad():
        exported = Path(tmp) / "model.onnx"
        try:
            torch.onnx.export(module, inputs, str(exported), **kwargs)
        except Exception as error:
            if not has_dynamo:
                raise
            # A torch without the TorchScript exporter: the dynamo one (onnxscript), opset 18.
            print(f"{name}: the TorchScript exporter failed ({type(error).__name__}: {str(error)[:200]}); trying dynamo", flush=True)
            del kwargs["do_constant_folding"]
            torch.onnx.export(module, inputs, str(exported), **{**kwargs, "dynamo": True, "opset_version": 18, "external_data": True})
        shards = sd_unet.reshard(exported, target)
    return [f"{name}/{shard}" for shard in shards]


def io_entry(name, dtype):
    input_names, output_names, _ = IO[name]
    def dt(tensor):
        if tensor in ("input_ids",):
            return "int32"
        if tensor == "timestep":
            return "int64"
        return dtype
    return {"inputs": [{"name": n, "dtype": dt(n)} for n in input_names], "outputs": [{"name": n, "dtype": dt(n)} for n in output_names]}


def write_folder(parts, side, folder, dtype, device):
    """A model folder for our engine: the three networks, tokenizer, scheduler, manifest.json."""
    label = "fp16" if dtype == torch.float16 else "fp32"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    timings, models = {}, {}
    for name, module in parts.items():
        started = time.perf_counter()
        module = module.to(device=device, dtype=dtype)
        # Traced at a 128x128 picture at most: the axes are dynamic, and a smaller trace is quicker.
        shards = export(module, name, example_inputs(name, min(side, 128), device, dtype), folder)
        parts[name] = module.to(device="cpu", dtype=torch.float32)
        models[name] = {"file": f"{name}/model.onnx", **io_entry(name, "float16" if label == "fp16" else "float32"), "externalData": shards}
        timings[name] = round(time.perf_counter() - started, 1)
        print(f"{label} {name}: exported in {timings[name]} s", flush=True)
    (folder / "tokenizer").mkdir()
    for file in ("vocab.json", "merges.txt"):
        shutil.copy(TOKENIZER / file, folder / "tokenizer" / file)
    (folder / "scheduler").mkdir()
    (folder / "scheduler/scheduler_config.json").write_text(json.dumps(SCHEDULER, indent=2) + "\n")
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        # Big files are not hashed: the bench's folder store reads them as they are (nothing is
        # downloaded, nothing to verify), and hashing 5 GB would cost the run seconds it needs.
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.stat().st_size < 2**20 else "0" * 64
        files.append({"path": rel, "size": path.stat().st_size, "sha256": digest})
    manifest = {
        "format": "webdiffusion-manifest/1",
        "id": f"sd-turbo-stand-in-{label}",
        "name": f"SD-Turbo-size stand-in ({label}, random weights)",
        "description": "Random weights with SD-Turbo's architecture: for timing only, the pictures are noise.",
        "precision": label,
        "resolution": {"width": side, "height": side},
        "latent": {"channels": 4, "downsample": 8, "scalingFactor": 0.18215},
        "textEncoder": {"hiddenSize": sd_unet.TEXT_WIDTH, "maxLength": 77},
        "tokenizer": {"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt", "padToken": "<|endoftext|>"},
        "scheduler": {"config": "scheduler/scheduler_config.json"},
        "defaults": {"steps": 1, "guidance": 0, "scheduler": "turbo"},
        "models": models,
        "files": files,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return timings


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--report", type=Path, help="where the figures go (JSON)")
    parser.add_argument("--reference", action="store_true", help="time the modules in PyTorch first")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--variants", default="fp32,fp16", help="the model folders to write: fp32, fp16 or both")
    parser.add_argument("--export-device", choices=["auto", "cpu"], default="auto", help="where to trace fp32 (fp16 needs CUDA)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    parts, side = build("small" if args.small else "full")
    params = {name: round(sum(p.numel() for p in m.parameters()) / 1e6, 1) for name, m in parts.items()}
    print(f"built in {time.perf_counter() - started:.1f} s; parameters (M): {params}", flush=True)
    report = {"size": "small" if args.small else "full", "parametersM": params, "device": str(device), "exportSeconds": {}}
    save = lambda: args.report.write_text(json.dumps(report, indent=2) + "\n") if args.report is not None else None
    if args.reference:
        report["reference"] = reference(parts, side, device, args.repeats)
        save()
    for label in args.variants.split(","):
        dtype = torch.float16 if label == "fp16" else torch.float32
        if dtype == torch.float16 and device.type != "cuda":
            report["exportSeconds"][label] = "skipped: no CUDA to trace a float16 model on"
            print(f"{label}: skipped (no CUDA)", flush=True)
            continue
        on = device if dtype == torch.float16 or args.export_device == "auto" else torch.device("cpu")
        try:
            report["exportSeconds"][label] = write_folder(parts, side, args.out / label, dtype, on)
        except Exception as error:
            report["exportSeconds"][label] = f"failed: {type(error).__name__}: {error}"[:1000]
            print(f"{label}: export failed: {error}", flush=True)
        save()


if __name__ == "__main__":
    main()
