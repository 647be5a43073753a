"""tiny-shapes-lm's files: the language model as ONNX (every hidden state an output, named
`hidden_states.N` as Hugging Face's exports of a model with output_hidden_states do),
tiny-shapes-flow's transformer exported again with a free text length, the parts taken from
tiny-shapes-flow unchanged, the manifest (with sizes and SHA-256) and the report.

    /usr/bin/python3 models/tiny-shapes-lm/training/export.py      (after train.py)
"""
import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
OUT = HERE.parent
FLOW = OUT.parent / "tiny-shapes-flow"
sys.path.insert(0, str(HERE))

from lm import LAYERS, WIDTH, DecoderLM  # noqa: E402
from prompt import MAX_LENGTH, TEMPLATE  # noqa: E402

OPSET = 17
COPIED = ["vae_decoder/model.onnx", "vae_decoder/config.json", "vae_encoder/model.onnx",
          "vae_encoder/config.json", "scheduler/scheduler_config.json"]


class Exported(torch.nn.Module):
    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, attention_mask):
        return tuple(self.lm(input_ids, attention_mask))


def export_lm(lm):
    names = [f"hidden_states.{k}" for k in range(LAYERS + 1)]
    ids = torch.zeros((1, MAX_LENGTH), dtype=torch.int64)
    mask = torch.ones((1, MAX_LENGTH), dtype=torch.int64)
    target = OUT / "text_encoder" / "model.onnx"
    target.parent.mkdir(exist_ok=True)
    torch.onnx.export(Exported(lm), (ids, mask), str(target), opset_version=OPSET, input_names=["input_ids", "attention_mask"],
                      output_names=names, dynamic_axes={**{n: {0: "batch", 1: "sequence_length"} for n in ["input_ids", "attention_mask"]},
                                                        **{n: {0: "batch", 1: "sequence_length"} for n in names}})


def export_transformer():
    """tiny-shapes-flow's transformer again, from its weights read back in torch, with the text's
    length free: its own export fixed it to CLIP's 77 tokens, and this model's prompts are 24."""
    from train import flow_transformer  # the DiT rebuilt from tiny-shapes-flow's ONNX file

    dit = flow_transformer()
    target = OUT / "transformer" / "model.onnx"
    target.parent.mkdir(exist_ok=True)
    tokens, packed = dit.position.shape[0], dit.x_in.in_features
    axes = {"hidden_states": {0: "batch"}, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch", 1: "text_length"}, "sample": {0: "batch"}}
    torch.onnx.export(dit, (torch.zeros(2, tokens, packed), torch.full((2,), 1.0), torch.zeros(2, MAX_LENGTH, WIDTH)), str(target), opset_version=OPSET,
                      input_names=["hidden_states", "timestep", "encoder_hidden_states"], output_names=["sample"], dynamic_axes=axes)


def write_manifest():
    """The descriptor (manifest.json, webdiffusion-catalog/1): tiny-shapes-flow's, with the language model and its tokenizer."""
    flow = json.loads((FLOW / "manifest.json").read_text())
    for path in COPIED:
        (OUT / path).parent.mkdir(exist_ok=True)
        shutil.copyfile(FLOW / path, OUT / path)
    paths = ["tokenizer/tokenizer.json", "text_encoder/model.onnx", "transformer/model.onnx", *COPIED]
    variant = flow["variants"][0]
    evidence = "models/tiny-shapes-lm/manifest.json (exported in this repository)"
    transformer = variant["models"]["transformer"]
    models = {
        "text_encoder": {
            "file": "text_encoder/model.onnx",
            "inputs": [{"name": n, "dtype": "int64", "shape": ["batch", "sequence_length"]} for n in ("input_ids", "attention_mask")],
            "outputs": [{"name": f"hidden_states.{k}", "dtype": "float32", "shape": ["batch", "sequence_length", WIDTH]} for k in range(LAYERS + 1)],
            "verified": True,
            "evidence": evidence,
        },
        "transformer": {
            **transformer,
            "inputs": [{**io, "shape": ["batch", "text_length", WIDTH]} if io["name"] == "encoder_hidden_states" else io for io in transformer["inputs"]],
            "evidence": evidence,
        },
        "vae_decoder": variant["models"]["vae_decoder"],
        "vae_encoder": variant["models"]["vae_encoder"],
    }
    network_bytes = [(OUT / spec["file"]).stat().st_size for spec in models.values()]
    manifest = {
        **flow,
        "id": "tiny-shapes-lm",
        "name": "tiny-shapes-lm",
        "description": "tiny-shapes-flow's diffusion transformer conditioned on a tiny decoder-only language model (a causal transformer with a Qwen2-style tokenizer.json and chat template), distilled here from tiny-shapes' CLIP encoder: the contract of Z-Image's and FLUX.2's Qwen3 conditioning, small.",
        "textEncoder": {"hiddenSize": WIDTH, "maxLength": MAX_LENGTH, "kind": "decoder", "layers": [-2], "padding": "keep"},
        "tokenizer": {"format": "tokenizer_json", "file": "tokenizer/tokenizer.json", "template": TEMPLATE, "padToken": "<|endoftext|>",
                      "verified": True, "evidence": "models/tiny-shapes-lm/manifest.json"},
        "variants": [{
            **variant,
            "files": [{"path": p, "size": (OUT / p).stat().st_size, "sha256": hashlib.sha256((OUT / p).read_bytes()).hexdigest()} for p in paths],
            "models": models,
            "memory": {**variant["memory"], "weightsBytes": sum(network_bytes), "largestBindingBytes": max(network_bytes)},
        }],
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def write_report():
    report = json.loads((HERE / "cache" / "report.json").read_text())
    rows = "\n".join(
        f"| {r['sampler']} | {r['steps']} | {r['guidance']:g} | {r['background']:.1%} | {r['color']:.1%} | {r['shape']:.1%} | {r['all']:.1%} |" for r in report["rows"]
    )
    (OUT / "REPORT.md").write_text(f"""# tiny-shapes-lm quality report

Written by `training/export.py` from `training/train.py`'s judgement with its own PyTorch sampler
(tiny-shapes-flow's `training/flow.py`, not the TypeScript runtime): 240 (prompt, seed) pairs,
prompts `a {{colour}} {{shape}} on a {{background}} background`, judged by tiny-shapes'
`training/judge.py`, the language model's hidden state -2 as the conditioning, the empty prompt
in the same template as the unconditional one.

| sampler | steps | guidance | background | shape colour | shape kind | all three |
|---|---|---|---|---|---|---|
{rows}

Training took {report['seconds'] / 60:.0f} minutes on this machine (one thread, other work running
beside it); {report['parameters']:,} parameters in the language model, which alone was trained
(the transformer is tiny-shapes-flow's, frozen). tiny-shapes-flow itself, with tiny-shapes' CLIP
encoder, gives 94.2% at flow_turbo 8 steps, guidance 2 (its REPORT.md).
""")


def main():
    saved = torch.load(HERE / "cache" / "checkpoint.pt")
    lm = DecoderLM(saved["vocab"])
    lm.load_state_dict(saved["lm"])
    export_lm(lm.eval())
    export_transformer()
    write_manifest()
    write_report()
    print("exported")


if __name__ == "__main__":
    main()
