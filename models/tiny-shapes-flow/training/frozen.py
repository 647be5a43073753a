"""tiny-shapes' tokenizer, text encoder and autoencoder, frozen, rebuilt in torch from its ONNX files.

tiny-shapes-flow trains only its transformer: the text encoder and the VAE are tiny-shapes' own,
byte for byte, so their weights are read back from the shipped ONNX graphs (the training
checkpoint is not committed). torch's exporter keeps parameter names except where it folded a
weight: a Linear on 3-D input becomes MatMul on the transposed weight (`onnx::MatMul_N`), a
GroupNorm's affine becomes Mul/Add on `[C,1,1]` constants (`onnx::Mul_N`, `onnx::Add_N`); those
are taken in graph order, which is the modules' order.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

SHAPES = Path(__file__).resolve().parents[2] / "tiny-shapes"
sys.path.append(str(SHAPES / "training"))  # after ours: our export.py, train.py win

import bpe  # noqa: E402
from nets import AutoEncoder, TextEncoder  # noqa: E402


def _initializers(path):
    graph = onnx.load(str(path)).graph
    return {i.name: numpy_helper.to_array(i) for i in graph.initializer}, graph


def _in_graph_order(graph, names):
    order = []
    for node in graph.node:
        for name in node.input:
            if name in names and name not in order:
                order.append(name)
    return order


def _load(module, params):
    state = module.state_dict()
    missing = set(state) - set(params)
    if missing:
        raise ValueError(f"not found in the ONNX file: {sorted(missing)}")
    module.load_state_dict({k: torch.from_numpy(np.array(params[k])) for k in state})
    return module.eval().requires_grad_(False)


def text_encoder():
    weights, graph = _initializers(SHAPES / "text_encoder" / "model.onnx")
    matmuls = _in_graph_order(graph, {n for n in weights if n.startswith("onnx::MatMul")})
    module = TextEncoder(weights["embed.weight"].shape[0])
    params = dict(weights)
    linears = [f"layers.{i}.{p}" for i in range(len(module.layers)) for p in ("qkv", "proj", "mlp.0", "mlp.2")]
    if len(matmuls) != len(linears):
        raise ValueError(f"{len(matmuls)} MatMul weights for {len(linears)} Linear layers")
    for name, onnx_name in zip(linears, matmuls):
        params[f"{name}.weight"] = weights[onnx_name].T
    return _load(module, params)


def _half(part, prefix):
    weights, graph = _initializers(SHAPES / part / "model.onnx")
    ae = AutoEncoder()
    seq = getattr(ae, prefix)
    norms = [f"{prefix}.{name}" for name, m in seq.named_modules() if isinstance(m, torch.nn.GroupNorm)]
    muls = _in_graph_order(graph, {n for n in weights if n.startswith("onnx::Mul")})
    adds = _in_graph_order(graph, {n for n in weights if n.startswith("onnx::Add")})
    if not (len(muls) == len(adds) == len(norms)):
        raise ValueError(f"{len(muls)} Mul / {len(adds)} Add constants for {len(norms)} GroupNorms")
    params = {k[len("ae."):]: v for k, v in weights.items() if k.startswith("ae.")}
    for name, mul, add in zip(norms, muls, adds):
        params[f"{name}.weight"] = weights[mul].reshape(-1)
        params[f"{name}.bias"] = weights[add].reshape(-1)
    state = ae.state_dict()
    for k in state:  # the other half's weights: not in this file, not used
        params.setdefault(k, state[k].numpy())
    return _load(ae, params)


def autoencoder():
    """One AutoEncoder with the encoder from vae_encoder/ and the decoder from vae_decoder/."""
    enc, dec = _half("vae_encoder", "encoder"), _half("vae_decoder", "decoder")
    enc.decoder = dec.decoder
    return enc


def tokenizer():
    lines = (SHAPES / "tokenizer" / "merges.txt").read_text().splitlines()[1:]
    merges = [tuple(line.split(" ")) for line in lines if line]
    vocab = json.loads((SHAPES / "tokenizer" / "vocab.json").read_text())
    return bpe.Tokenizer(merges, vocab)


def scaling_factor():
    return json.loads((SHAPES / "vae_decoder" / "config.json").read_text())["scaling_factor"]
