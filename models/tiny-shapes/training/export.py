"""ONNX export (opset 17, fp32) and the manifest that lists every file with its size and sha256."""
import hashlib
import json
from pathlib import Path

import torch

from bpe import MAX_LENGTH
from data import SIZE
from nets import LATENT_CHANNELS, TEXT_WIDTH

OPSET = 17
LATENT = SIZE // 8
# Guidance 2, not SD's usual 7.5: measured on this model, stronger guidance bends its shapes
# (squares go concave, circles lumpy) and shape kind falls from 95% at 2 to 85% at 4 (REPORT.md).
DEFAULTS = {"steps": 20, "guidance": 2, "scheduler": "ddim"}


class _Half(torch.nn.Module):
    """One half of the autoencoder as its own graph: `encode` or `decode`."""

    def __init__(self, ae, method):
        super().__init__()
        self.ae, self.method = ae, method

    def forward(self, x):
        return getattr(self.ae, self.method)(x)


def _io(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": shape}


MODELS = {
    "text_encoder": {
        "inputs": [_io("input_ids", "int32", [1, MAX_LENGTH])],
        "outputs": [_io("last_hidden_state", "float32", [1, MAX_LENGTH, TEXT_WIDTH])],
    },
    "unet": {
        "inputs": [_io("sample", "float32", ["batch", LATENT_CHANNELS, LATENT, LATENT]),
                   _io("timestep", "float32", ["batch"]),
                   _io("encoder_hidden_states", "float32", ["batch", MAX_LENGTH, TEXT_WIDTH])],
        "outputs": [_io("out_sample", "float32", ["batch", LATENT_CHANNELS, LATENT, LATENT])],
    },
    "vae_decoder": {
        "inputs": [_io("latent_sample", "float32", ["batch", LATENT_CHANNELS, LATENT, LATENT])],
        "outputs": [_io("sample", "float32", ["batch", 3, SIZE, SIZE])],
    },
    "vae_encoder": {
        "inputs": [_io("sample", "float32", ["batch", 3, SIZE, SIZE])],
        "outputs": [_io("latent_sample", "float32", ["batch", LATENT_CHANNELS, LATENT, LATENT])],
    },
}


def _export(module, args, name, out):
    spec = MODELS[name]
    path = out / name / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    dynamic = {io["name"]: {i: d for i, d in enumerate(io["shape"]) if isinstance(d, str)}
               for io in spec["inputs"] + spec["outputs"]}
    torch.onnx.export(module.eval(), args, str(path), opset_version=OPSET,
                      input_names=[io["name"] for io in spec["inputs"]],
                      output_names=[io["name"] for io in spec["outputs"]],
                      dynamic_axes={k: v for k, v in dynamic.items() if v}, do_constant_folding=True)


def export_unet(unet, out: Path):
    with torch.no_grad():
        _export(unet, (torch.zeros(2, LATENT_CHANNELS, LATENT, LATENT), torch.full((2,), 999.0),
                       torch.zeros(2, MAX_LENGTH, TEXT_WIDTH)), "unet", out)


def export_all(text, unet, ae, scaling_factor, out: Path):
    export_unet(unet, out)
    with torch.no_grad():
        _export(text, (torch.zeros(1, MAX_LENGTH, dtype=torch.int32),), "text_encoder", out)
        _export(_Half(ae, "decode"), (torch.zeros(1, LATENT_CHANNELS, LATENT, LATENT),), "vae_decoder", out)
        _export(_Half(ae, "encode"), (torch.zeros(1, 3, SIZE, SIZE),), "vae_encoder", out)
    # diffusers records the latent scaling factor in the VAE's config.json
    for part in ("vae_decoder", "vae_encoder"):
        (out / part / "config.json").write_text(json.dumps(
            {"latent_channels": LATENT_CHANNELS, "sample_size": SIZE, "scaling_factor": scaling_factor}, indent=2) + "\n")


DESCRIPTION = ("64x64 pictures of one coloured circle, square or triangle on a plain background; "
               "trained in this repository with Stable Diffusion's structure.")


def write_manifest(out: Path, scaling_factor, model_id="tiny-shapes", description=DESCRIPTION, defaults=DEFAULTS,
                   models=None, denoiser=None, latent=None):
    """The model's descriptor (manifest.json, format webdiffusion-catalog/1): one fp32 variant listing
    every file with its size and sha256, the networks' contracts, and device fitting's memory figures."""
    models = MODELS if models is None else models
    files = []
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_file() and rel.split("/")[0] in {"tokenizer", "scheduler", *models}:
            files.append({"path": rel, "size": path.stat().st_size,
                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    network_bytes = [(out / name / "model.onnx").stat().st_size for name in models]
    evidence = f"models/{model_id}/manifest.json (exported in this repository)"
    manifest = {
        "format": "webdiffusion-catalog/1",
        "id": model_id,
        "name": model_id,
        "description": description,
        "resolutions": [{"width": SIZE, "height": SIZE}],
        "latent": latent or {"channels": LATENT_CHANNELS, "downsample": 8, "scalingFactor": scaling_factor},
        "textEncoder": {"hiddenSize": TEXT_WIDTH, "maxLength": MAX_LENGTH},
        "tokenizer": {"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt", "padToken": "<|endoftext|>",
                      "verified": True, "evidence": f"models/{model_id}/manifest.json"},
        "defaults": defaults,
        **({"denoiser": denoiser} if denoiser else {}),
        "variants": [{
            "id": "fp32",
            "precision": "fp32",
            "requiredFeatures": [],
            "files": files,
            "filesVerified": True,
            "filesEvidence": "The files in this folder; test/unit/models/bundled-model.test.ts checks their sizes and digests.",
            "models": {name: {"file": f"{name}/model.onnx", **spec, "verified": True, "evidence": evidence}
                       for name, spec in models.items()},
            "memory": {
                "weightsBytes": sum(network_bytes),
                "activationsBytes": 16 * 1024 * 1024,
                "largestBindingBytes": max(network_bytes),
                "method": ("Weights: sum of the .onnx files (exact). Largest binding: no initializer can be larger than the "
                           "largest file. Activations: the largest map is the VAE decoder's 64x64 output stage (at most 128 "
                           "channels x 64^2 x 4 bytes = 2 MiB per tensor); 16 MiB is a generous bound."),
            },
        }],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
