"""tiny-shapes' PyTorch modules rebuilt from its committed ONNX files (no checkpoint is committed).

torch.onnx.export keeps each module's path in the node names ("/a1/mlp/mlp.0/MatMul" is module
`a1.mlp.0`); named initializers keep their state_dict key; the two kinds it renames are the
Linear weights (stored transposed, as the MatMul's second input) and the GroupNorm affine
parameters (the Mul/Add after InstanceNormalization, shaped [C, 1, 1]).
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
import torch

BASE = Path(__file__).resolve().parents[2] / "tiny-shapes"
sys.path.insert(0, str(BASE / "training"))

import bpe  # noqa: E402
from nets import AutoEncoder, TextEncoder, UNet  # noqa: E402


def module_path(node_name):
    """'/a1/mlp/mlp.0/MatMul' -> 'a1.mlp.0'; '/down_blocks.0/attentions.0/x/MatMul' -> 'down_blocks.0.attentions.0.x'."""
    parts = []
    for segment in node_name.strip("/").split("/")[:-1]:
        if parts and segment.startswith(parts[-1] + "."):
            parts[-1] = segment
        else:
            parts.append(segment)
    return ".".join(parts)


def state_dict_from_onnx(path, prefix=""):
    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state = {}
    for name, value in inits.items():
        if not name.startswith("onnx::"):
            state[name[len(prefix):] if name.startswith(prefix) else name] = value
    for node in graph.node:
        for name in node.input:
            if not name.startswith("onnx::") or name not in inits:
                continue
            key = module_path(node.name)
            key = key[len(prefix):] if prefix and key.startswith(prefix) else key
            if node.op_type == "MatMul":
                state[key + ".weight"] = inits[name].T
            elif node.op_type == "Mul":
                state[key + ".weight"] = inits[name].reshape(-1)
            elif node.op_type == "Add":
                state[key + ".bias"] = inits[name].reshape(-1)
    return {k: torch.from_numpy(np.array(v)) for k, v in state.items()}


def load_tokenizer(base=BASE):
    lines = (base / "tokenizer" / "merges.txt").read_text().splitlines()
    merges = [tuple(line.split()) for line in lines[1:] if line]
    return bpe.Tokenizer(merges, json.loads((base / "tokenizer" / "vocab.json").read_text()))


def load_base(base=BASE):
    """(tokenizer, text encoder, unet, autoencoder, scaling factor), frozen, in eval mode."""
    tok = load_tokenizer(base)
    text, unet, ae = TextEncoder(len(tok.vocab)), UNet(), AutoEncoder()
    text.load_state_dict(state_dict_from_onnx(base / "text_encoder" / "model.onnx"))
    unet.load_state_dict(state_dict_from_onnx(base / "unet" / "model.onnx"))
    halves = {**state_dict_from_onnx(base / "vae_encoder" / "model.onnx", "ae."),
              **state_dict_from_onnx(base / "vae_decoder" / "model.onnx", "ae.")}
    ae.load_state_dict(halves)
    for m in (text, unet, ae):
        m.eval().requires_grad_(False)
    scaling = json.loads((base / "manifest.json").read_text())["latent"]["scalingFactor"]
    return tok, text, unet, ae, scaling
