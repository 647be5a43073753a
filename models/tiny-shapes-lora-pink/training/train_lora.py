"""Train a LoRA on tiny-shapes that teaches it a colour it has never seen.

    python3 models/tiny-shapes-lora-pink/training/train_lora.py --concept pink   # pink shapes (PEFT layout)
    python3 models/tiny-shapes-lora-pink/training/train_lora.py --concept cyan   # cyan shapes (kohya layout)
    python3 models/tiny-shapes-lora-pink/training/train_lora.py --concept navy   # navy backgrounds (PEFT layout)
    python3 models/tiny-shapes-lora-pink/training/train_lora.py --concept pink --quick

The base model (rebuilt from its ONNX files by from_onnx.py) stays frozen; low-rank adapters
y = W x + B A x sit on every Linear of the UNet's attention blocks and of the text encoder (the
modules LoRA trainers target on Stable Diffusion). Half of each batch is the new concept, half is
tiny-shapes' own data, so the base prompts keep working with the LoRA loaded (prior preservation,
as DreamBooth does). Written as .safetensors: pink in the diffusers/PEFT key layout, cyan in
kohya's, so that both of the runtime's readers are exercised by real files.
"""
import argparse
import json
import math
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from from_onnx import BASE, load_base  # also puts tiny-shapes/training on sys.path

import data  # noqa: E402
import diffusion  # noqa: E402
from judge import judge  # noqa: E402

MODELS = BASE.parent
SEED = 20261204
CONCEPTS = {
    # colour -> (what is new, layout, rank, alpha); kohya's scale is alpha / rank
    "pink": {"part": "color", "layout": "peft", "rank": 8, "alpha": 8},
    "cyan": {"part": "color", "layout": "kohya", "rank": 4, "alpha": 2},
    "navy": {"part": "background", "layout": "peft", "rank": 8, "alpha": 8},
}
UNET_TARGETS = ("qkv", "o1", "q", "kv", "o2", "mlp.0", "mlp.2")
TEXT_TARGETS = ("qkv", "proj", "mlp.0", "mlp.2")


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


class LoraLinear(nn.Module):
    def __init__(self, base: nn.Linear, rank, alpha, generator):
        super().__init__()
        self.base, self.scale = base, alpha / rank
        self.down = nn.Parameter(torch.randn(rank, base.in_features, generator=generator) / math.sqrt(base.in_features))
        self.up = nn.Parameter(torch.zeros(base.out_features, rank))  # zero: training starts at the base model

    def forward(self, x):
        return self.base(x) + (x @ self.down.T @ self.up.T) * self.scale


def inject(model, suffixes, rank, alpha, generator):
    """Wrap the Linear modules whose path ends with one of `suffixes`; returns {path: LoraLinear}."""
    found = {}
    for path, module in list(model.named_modules()):
        for name, child in list(module.named_children()):
            full = f"{path}.{name}" if path else name
            if isinstance(child, nn.Linear) and any(full.endswith("." + s) or full == s for s in suffixes):
                if "." in full and full.split(".")[0] in ("time",):
                    continue
                wrapped = LoraLinear(child, rank, alpha, generator)
                setattr(module, name, wrapped)
                found[full] = wrapped
    return found


def scene(rng, concept):
    colour, shape, background, sf, fx, fy = data.sample_scene(rng)
    if CONCEPTS[concept]["part"] == "color":
        colour = concept
    else:
        background = concept
    return colour, shape, background, sf, fx, fy


@torch.no_grad()
def dataset(ae, tok, rng, concept, n, scaling):
    """n pictures, half of them the concept; latents scaled as the UNet sees them, token ids."""
    latents, ids = [], []
    for start in range(0, n, 256):
        images, captions = [], []
        for i in range(min(256, n - start)):
            s = scene(rng, concept) if i % 2 == 0 else data.sample_scene(rng)
            images.append(data.render(*s).transpose(2, 0, 1) / 127.5 - 1)
            captions.append("" if rng.random() < data.CAPTION_DROP else data.caption_for(rng, s[0], s[1], s[2]))
        latents.append(ae.encode(torch.from_numpy(np.stack(images).astype(np.float32))) * scaling)
        ids += [tok.encode(c) for c in captions]
    return torch.cat(latents), torch.tensor(ids, dtype=torch.int32)


def train(text, unet, latents, ids, params, steps, lr, generator, batch=48):
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    ac = torch.from_numpy(diffusion.alphas_cumprod()).float()
    for step in range(steps):
        idx = torch.randint(0, len(latents), (batch,), generator=generator)
        z0 = latents[idx]
        flip = torch.rand(batch, generator=generator) < 0.5
        z0 = torch.where(flip[:, None, None, None], z0.flip(-1), z0)
        t = torch.randint(0, 1000, (batch,), generator=generator)
        eps = torch.randn(z0.shape, generator=generator)
        a = ac[t][:, None, None, None]
        loss = F.mse_loss(unet(a.sqrt() * z0 + (1 - a).sqrt() * eps, t.float(), text(ids[idx])), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"lora {step}/{steps} loss {loss.item():.4f}")


def set_scale(layers, factor):
    for layer, scale in layers:
        layer.scale = scale * factor


@torch.no_grad()
def judged(text, unet, ae, tok, scaling, prompts, seeds):
    """Fraction of (prompt, seed) pairs judged right, per part and for all three."""
    cases = [(p, s) for p in prompts for s in seeds]
    cond = torch.cat([text(torch.tensor([tok.encode(p[0])], dtype=torch.int32)) for p, _ in cases])
    uncond = text(torch.tensor([tok.encode("")], dtype=torch.int32)).expand_as(cond)
    noise = torch.cat([torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(s)) for _, s in cases])
    z = diffusion.sample(unet, cond, uncond, noise, 20, 2.0, "ddim")
    pics = ((ae.decode(z / scaling).clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    hits = {"color": 0, "shape": 0, "background": 0, "all": 0}
    for ((_, want), _), pic in zip(cases, pics):
        j = judge(pic)
        ok = {k: j[k] == want[k] for k in ("color", "shape", "background")}
        for k, v in ok.items():
            hits[k] += v
        hits["all"] += all(ok.values())
    return {k: round(v / len(cases), 3) for k, v in hits.items()}


def prompt(colour, shape, background):
    return (f"a {colour} {shape} on a {background} background", {"color": colour, "shape": shape, "background": background})


def read_safetensors(path):
    """{name: float32 array} of a safetensors file (for --init)."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    types = {"F16": np.float16, "F32": np.float32}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + begin:8 + n + end], types[e["dtype"]]).astype(np.float32).reshape(e["shape"])
    return out


def load_lora(path, unet_layers, text_layers, concept):
    """Continue from a LoRA this script wrote (its layout's keys; kohya's scale taken back out)."""
    saved = read_safetensors(path)
    for part, layers in (("unet", unet_layers), ("text_encoder", text_layers)):
        for module, layer in layers.items():
            if CONCEPTS[concept]["layout"] == "peft":
                down, up = saved[f"{part}.{module}.lora_A.weight"], saved[f"{part}.{module}.lora_B.weight"] / layer.scale
            else:
                key = ("lora_unet_" if part == "unet" else "lora_te_") + module.replace(".", "_")
                down, up = saved[f"{key}.lora_down.weight"], saved[f"{key}.lora_up.weight"]
            layer.down.data = torch.from_numpy(down.copy())
            layer.up.data = torch.from_numpy(up.copy())


def write_safetensors(path, tensors, metadata):
    """The safetensors layout: u64 header length, JSON header, then the raw little-endian data."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, (dtype, array) in tensors.items():
        raw = np.ascontiguousarray(array.astype({"F16": np.float16, "F32": np.float32}[dtype])).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def lora_tensors(unet_layers, text_layers, concept):
    cfg = CONCEPTS[concept]
    out = {}
    for part, layers in (("unet", unet_layers), ("text_encoder", text_layers)):
        for path, layer in layers.items():
            down, up = layer.down.detach().numpy(), layer.up.detach().numpy()
            if cfg["layout"] == "peft":
                # diffusers' save_lora_weights: "<component>.<module path>.lora_A/B.weight", scale 1
                out[f"{part}.{path}.lora_A.weight"] = ("F32", down)
                out[f"{part}.{path}.lora_B.weight"] = ("F32", up * layer.scale)
            else:
                prefix = "lora_unet_" if part == "unet" else "lora_te_"
                key = prefix + path.replace(".", "_")
                out[f"{key}.lora_down.weight"] = ("F16", down)
                out[f"{key}.lora_up.weight"] = ("F16", up)
                out[f"{key}.alpha"] = ("F16", np.array(cfg["alpha"], np.float32))
    return out


def write_manifest(out, concept):
    """manifest.json beside the file: what the runtime's LoRA references read (a static server reports no digest)."""
    import hashlib
    cfg = CONCEPTS[concept]
    raw = (out / "lora.safetensors").read_bytes()
    manifest = {"format": "webdiffusion-lora/1", "name": f"tiny-shapes-lora-{concept}", "base": "tiny-shapes",
                "description": f"teaches tiny-shapes the colour {concept} ({'shapes' if cfg['part'] == 'color' else 'backgrounds'}), "
                               f"RGB {list(data.LORA_PALETTE[concept])}",
                "layout": cfg["layout"], "rank": cfg["rank"],
                "file": "lora.safetensors", "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--concept", choices=list(CONCEPTS), required=True)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--dataset", type=int, default=4096)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--init", type=Path, help="continue from this LoRA file (written by this script)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--manifest-only", action="store_true", help="rewrite manifest.json for the committed file")
    args = ap.parse_args()
    if args.manifest_only:
        write_manifest(MODELS / f"tiny-shapes-lora-{args.concept}", args.concept)
        return
    if args.quick:
        args.steps, args.dataset = 3, 256
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    cfg = CONCEPTS[args.concept]
    out = MODELS / f"tiny-shapes-lora-{args.concept}"
    start = time.time()

    tok, text, unet, ae, scaling = load_base()
    latents, ids = dataset(ae, tok, rng, args.concept, args.dataset, scaling)
    log(f"dataset {len(latents)} in {time.time() - start:.0f} s")
    g = torch.Generator().manual_seed(SEED)
    unet_layers = inject(unet, UNET_TARGETS, cfg["rank"], cfg["alpha"], g)
    text_layers = inject(text, TEXT_TARGETS, cfg["rank"], cfg["alpha"], g)
    if args.init is not None:
        load_lora(args.init, unet_layers, text_layers, args.concept)
    layers = list(unet_layers.values()) + list(text_layers.values())
    params = [p for layer in layers for p in (layer.down, layer.up)]
    log(f"{len(unet_layers)} UNet + {len(text_layers)} text encoder modules, {sum(p.numel() for p in params):,} parameters")
    train(text, unet, latents, ids, params, args.steps, args.lr, g)
    seconds = time.time() - start

    scales = [(layer, layer.scale) for layer in layers]
    new = [prompt(args.concept, s, b) if cfg["part"] == "color" else prompt(c, s, args.concept)
           for c, s, b in [("blue", "circle", "blue"), ("red", "square", "white"), ("yellow", "triangle", "black")]]
    if args.concept == "pink":
        new[0] = prompt("pink", "circle", "blue")
    base = [prompt(*data.sample_scene(np.random.default_rng(100 + i))[:3]) for i in range(12)]
    seeds = range(8)
    report = {"concept": args.concept, "trainSeconds": round(seconds), "steps": args.steps, "rank": cfg["rank"]}
    for factor in (0.0, 1.0):
        set_scale(scales, factor)
        report[f"new prompts, scale {factor:g}"] = judged(text, unet, ae, tok, scaling, new, seeds)
        report[f"base prompts, scale {factor:g}"] = judged(text, unet, ae, tok, scaling, base, seeds)
        log(factor, report)
    set_scale(scales, 1.0)

    out.mkdir(exist_ok=True)
    metadata = {"format": "pt", "base_model": "tiny-shapes", "concept": args.concept,
                "rank": str(cfg["rank"]), "layout": cfg["layout"]}
    write_safetensors(out / "lora.safetensors", lora_tensors(unet_layers, text_layers, args.concept), metadata)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_manifest(out, args.concept)
    log("written", out / "lora.safetensors")


if __name__ == "__main__":
    main()
