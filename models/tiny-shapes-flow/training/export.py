"""ONNX export of the transformer, the copied tiny-shapes parts, the manifest and the report."""
import hashlib
import json
import shutil
from pathlib import Path

import torch

import frozen
from bpe import MAX_LENGTH
from nets import LATENT_CHANNELS, TEXT_WIDTH
from dit import PATCH

OPSET = 17
LATENT = 8
DEFAULTS = {"steps": 8, "guidance": 2, "scheduler": "flow_turbo"}
SCHEDULER_CONFIG = {
    "_class_name": "FlowMatchEulerDiscreteScheduler",
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "use_dynamic_shifting": False,
    "base_shift": 0.5,
    "max_shift": 1.15,
    "base_image_seq_len": 256,
    "max_image_seq_len": 4096,
}
REPORT_SETTINGS = [("flow_euler", n, g, 1.0) for n in (1, 4, 8, 20) for g in (1.0, 2.0)] + \
                  [("flow_euler", 8, 3.0, 1.0), ("flow_euler", 8, 2.0, 3.0), ("flow_euler", 8, 2.0, 0.5),
                   ("flow_turbo", 4, 2.0, 1.0), ("flow_turbo", 8, 2.0, 1.0)]
# What tiny-shapes-flow takes from tiny-shapes unchanged (copied, so the manifest lists them in its folder).
COPIED = ["tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
          "tokenizer/tokenizer_config.json", "text_encoder/model.onnx", "vae_decoder/model.onnx",
          "vae_decoder/config.json", "vae_encoder/model.onnx", "vae_encoder/config.json"]


def _io(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": shape}


def transformer_spec(patch=PATCH):
    tokens, packed = (LATENT // patch) ** 2, LATENT_CHANNELS * patch * patch
    return {
        "inputs": [_io("hidden_states", "float32", ["batch", tokens, packed]),
                   _io("timestep", "float32", ["batch"]),
                   _io("encoder_hidden_states", "float32", ["batch", MAX_LENGTH, TEXT_WIDTH])],
        "outputs": [_io("sample", "float32", ["batch", tokens, packed])],
    }


TRANSFORMER = transformer_spec()


def export_all(model, out: Path):
    tokens, packed = model.position.shape[0], model.x_in.in_features
    for rel in COPIED:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(frozen.SHAPES / rel, out / rel)
    path = out / "transformer" / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(model.eval(), (torch.zeros(2, tokens, packed), torch.full((2,), 1.0), torch.zeros(2, MAX_LENGTH, TEXT_WIDTH)),
                          str(path), opset_version=OPSET,
                          input_names=[io["name"] for io in TRANSFORMER["inputs"]],
                          output_names=[io["name"] for io in TRANSFORMER["outputs"]],
                          dynamic_axes={io["name"]: {0: "batch"} for io in TRANSFORMER["inputs"] + TRANSFORMER["outputs"]},
                          do_constant_folding=True)
    (out / "scheduler").mkdir(exist_ok=True)
    (out / "scheduler" / "scheduler_config.json").write_text(json.dumps(SCHEDULER_CONFIG, indent=2) + "\n")


def write_manifest(out: Path):
    """The descriptor (manifest.json, webdiffusion-catalog/1): tiny-shapes' own, with the transformer for the UNet."""
    base = json.loads((frozen.SHAPES / "manifest.json").read_text())
    files = []
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_file() and rel.split("/")[0] in {"tokenizer", "text_encoder", "transformer", "vae_decoder", "vae_encoder", "scheduler"}:
            files.append({"path": rel, "size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    variant = base["variants"][0]
    models = {name: spec for name, spec in variant["models"].items() if name != "unet"}
    models["transformer"] = {"file": "transformer/model.onnx", **TRANSFORMER, "verified": True,
                             "evidence": "models/tiny-shapes-flow/manifest.json (exported in this repository)"}
    network_bytes = [(out / spec["file"]).stat().st_size for spec in models.values()]
    manifest = {
        **base,
        "id": "tiny-shapes-flow",
        "name": "tiny-shapes-flow",
        "description": ("64x64 pictures of one coloured circle, square or triangle on a plain background: a small "
                        "diffusion transformer trained with rectified flow on tiny-shapes' latents and text encoder."),
        "denoiser": {"kind": "transformer", "prediction": "flow", "timestep": "sigma", "patchSize": PATCH,
                     "packing": "patches", "guidance": "cfg"},
        "defaults": DEFAULTS,
        "variants": [{**variant, "files": files, "models": models,
                      "memory": {**variant["memory"], "weightsBytes": sum(network_bytes), "largestBindingBytes": max(network_bytes)}}],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def write_report(out: Path, rows, seconds, params):
    (out / "report.json").write_text(json.dumps({"rows": rows, "trainSeconds": round(seconds), "parameters": params}, indent=2) + "\n")
    lines = ["# tiny-shapes-flow quality report", "",
             "Written by `training/train.py` with its own PyTorch sampler (`training/flow.py`, not the TypeScript runtime).",
             f"{rows[0]['pairs']} (prompt, seed) pairs, prompts `a {{colour}} {{shape}} on a {{background}} background`,",
             "judged by tiny-shapes' `training/judge.py`. Guidance 1 means no classifier-free guidance.", "",
             "| sampler | steps | guidance | shift | background | shape colour | shape kind | all three |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['sampler']} | {r['steps']} | {r['guidance']:g} | {r['shift']:g} | {r['background']:.1%} | "
                     f"{r['color']:.1%} | {r['shape']:.1%} | {r['all']:.1%} |")
    lines += ["", f"The model's defaults: {DEFAULTS['scheduler']}, {DEFAULTS['steps']} steps, guidance {DEFAULTS['guidance']}.",
              "", f"Training took {seconds / 60:.0f} minutes on this machine (one thread, other work running beside it); "
              f"{params:,} parameters in the transformer.", ""]
    (out / "REPORT.md").write_text("\n".join(lines))
