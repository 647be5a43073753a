"""Train tiny-shapes-lm's text encoder, a tiny decoder-only language model, export it, write the
manifest and the report.

    /usr/bin/python3 models/tiny-shapes-lm/training/tokenizer.py first (it writes the ids), then
    /usr/bin/python3 models/tiny-shapes-lm/training/train.py

The denoiser is tiny-shapes-flow's transformer, frozen, rebuilt in torch from its ONNX file; only
the language model learns, by distillation: for a picture's noisy latent at a random time, the
transformer's velocity conditioned on the language model's hidden states (index -2, the prompt
in its chat template, padded with the attention mask) must match its velocity conditioned on
tiny-shapes' CLIP encoder, the one it was trained with. Deterministic: one seed drives data,
initialisation and sampling.
"""
import argparse
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
OUT = HERE.parent
FLOW = OUT.parent / "tiny-shapes-flow"
sys.path.insert(0, str(FLOW / "training"))

import frozen  # noqa: E402  (puts tiny-shapes' training code on the path)
import data  # noqa: E402
import flow  # noqa: E402
from dit import PATCH, FlowTransformer, pack  # noqa: E402
from lm import DecoderLM  # noqa: E402
from prompt import MAX_LENGTH  # noqa: E402

SEED = 20261205


def _flow_training_module():
    """tiny-shapes-flow's own train.py (its judged prompts and seeds), under a name of its own."""
    spec = importlib.util.spec_from_file_location("flow_train", FLOW / "training" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


flow_train = _flow_training_module()
report_cases = flow_train.report_cases
LAYER = -2


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def flow_transformer():
    """tiny-shapes-flow's transformer with its weights read back from its ONNX file: torch's
    exporter keeps parameter names except the Linear layers on 3-D inputs, whose transposed
    weights become `onnx::MatMul_N` initializers, taken in graph order (the modules' order of use)."""
    weights, graph = frozen._initializers(FLOW / "transformer" / "model.onnx")
    matmuls = frozen._in_graph_order(graph, {n for n in weights if n.startswith("onnx::MatMul")})
    width = weights["x_in.bias"].shape[0]
    model = FlowTransformer(tokens=(8 // PATCH) ** 2, in_channels=4 * PATCH * PATCH, width=width)
    linears = ["ctx_in", "x_in"] + [f"blocks.{i}.{p}" for i in range(len(model.blocks)) for p in ("qkv", "o1", "kv", "q", "o2", "mlp.0", "mlp.2")] + ["x_out"]
    if len(matmuls) != len(linears):
        raise ValueError(f"{len(matmuls)} MatMul weights for {len(linears)} Linear layers")
    params = dict(weights)
    state = model.state_dict()
    for name, onnx_name in zip(linears, matmuls):
        w = weights[onnx_name].T
        if w.shape != tuple(state[f"{name}.weight"].shape):
            raise ValueError(f"{onnx_name} {w.shape} does not fit {name} {tuple(state[name + '.weight'].shape)}")
        params[f"{name}.weight"] = w
    return frozen._load(model, params)


def padded(ids_by_text, texts, pad):
    ids = torch.full((len(texts), MAX_LENGTH), pad, dtype=torch.int64)
    mask = torch.zeros((len(texts), MAX_LENGTH), dtype=torch.int64)
    for row, text in enumerate(texts):
        seq = ids_by_text[text]
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return ids, mask


class PromptIds:
    """Stands for a tokenizer in tiny-shapes-flow's `judged`: a prompt's "ids" are its place in a
    list, which `text_states` turns back into the prompt for the language model."""

    def __init__(self):
        self.prompts = []

    def encode(self, prompt):
        self.prompts.append(prompt)
        return [len(self.prompts) - 1]


def judged(dit, ae, encode, cases, settings):
    """tiny-shapes-flow's judgement (same prompts, noise and judge), the conditioning from `encode`."""
    tok = PromptIds()
    return flow_train.judged(dit, ae, lambda ids: encode([tok.prompts[i] for i in ids[:, 0].tolist()]), tok, cases,
                             [(sampler, steps, guidance, 1.0) for sampler, steps, guidance in settings])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--dataset", type=int, default=4096)
    ap.add_argument("--probe", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check-teacher", action="store_true", help="judge the frozen transformer with CLIP first")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    start = time.time()
    tokens = json.loads((HERE / "cache" / "caption_ids.json").read_text())
    ids_by_text, pad = tokens["ids"], tokens["pad"]
    ae, clip, clip_tok, dit = frozen.autoencoder(), frozen.text_encoder(), frozen.tokenizer(), flow_transformer()
    lm = DecoderLM(tokens["vocab"])

    def clip_states(texts):
        return clip(torch.tensor([clip_tok.encode(t) for t in texts], dtype=torch.int32))

    def lm_states(texts):
        ids, mask = padded(ids_by_text, texts, pad)
        return lm(ids, mask)[LAYER]

    probe_cases = report_cases(96, seed=11)
    if args.check_teacher:
        log("teacher", judged(dit, ae, clip_states, probe_cases, [("flow_turbo", 8, 2.0)]))

    # Pictures and their captions, as tiny-shapes-flow was trained on (captions dropped to "" sometimes).
    with torch.no_grad():
        latents, captions = [], []
        for s in range(0, args.dataset, 256):
            x, caps = data.batch(rng, min(256, args.dataset - s))
            latents.append(ae.encode(torch.from_numpy(x)) * frozen.scaling_factor())
            captions += caps
        latents = torch.cat(latents)
        unknown = [c for c in set(captions) if c not in ids_by_text]
        if unknown:
            raise ValueError(f"captions without ids (run tokenizer.py): {unknown[:3]}")
        texts = sorted(set(captions))
        teacher = {t: s for t, s in zip(texts, clip_states(texts))}
    log(f"{len(latents)} pictures, {len(texts)} captions")

    params = list(lm.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / args.steps))))
    g = torch.Generator().manual_seed(SEED)
    for step in range(args.steps):
        idx = torch.randint(0, len(latents), (args.batch,), generator=g)
        x0 = latents[idx]
        noise = torch.randn(x0.shape, generator=g)
        t = torch.rand(args.batch, generator=g)
        xt = pack(flow.add_noise(x0, noise, t[:, None, None, None]))
        batch_texts = [captions[i] for i in idx.tolist()]
        with torch.no_grad():
            target = dit(xt, t, torch.stack([teacher[c] for c in batch_texts]))
        loss = F.mse_loss(dit(xt, t, lm_states(batch_texts)), target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0:
            log(f"lm {step}/{args.steps} loss {loss.item():.5f}")
        if args.probe and step > 0 and (step % args.probe == 0 or step == args.steps - 1):
            lm.eval()
            rows = judged(dit, ae, lm_states, probe_cases, [("flow_turbo", 8, 2.0)])
            lm.train()
            log("probe", step, rows)
            if rows[0]["all"] >= 0.92:
                log(f"probe: at least 92% all correct at 8 steps, stopping at step {step}")
                break
    lm.eval()
    seconds = time.time() - start
    torch.save({"lm": lm.state_dict(), "seconds": seconds, "vocab": tokens["vocab"]}, HERE / "cache" / "checkpoint.pt")
    rows = judged(dit, ae, lm_states, report_cases(240), [("flow_euler", 8, 2.0), ("flow_turbo", 4, 2.0), ("flow_turbo", 8, 2.0)])
    for row in rows:
        log("report", row)
    (HERE / "cache" / "report.json").write_text(json.dumps({"rows": rows, "seconds": seconds, "parameters": sum(p.numel() for p in params)}) + "\n")


if __name__ == "__main__":
    main()
