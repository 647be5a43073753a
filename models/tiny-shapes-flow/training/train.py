"""Train tiny-shapes-flow's transformer with rectified flow, export it, write manifest and report.

    python3 models/tiny-shapes-flow/training/train.py            # ~15 min on one core
    python3 models/tiny-shapes-flow/training/train.py --quick    # seconds: untrained, same files

The text encoder, tokenizer and VAE are tiny-shapes' own, frozen (frozen.py); only the
transformer learns. Deterministic: one seed drives data, initialisation and sampling.
"""
import argparse
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import frozen  # first: puts tiny-shapes' training code on the path
import data
import export
import flow
from dit import PATCH, FlowTransformer, pack, unpack
from judge import judge

HERE = Path(__file__).resolve().parent
OUT = HERE.parent
SEED = 20261204


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


@torch.no_grad()
def encode_dataset(ae, text, tok, rng, n, scaling_factor):
    """Latents (scaled) of n generated pictures, and for each the index of its caption's hidden states."""
    latents, index, captions = [], [], {}
    for start in range(0, n, 256):
        x, caps = data.batch(rng, min(256, n - start))
        latents.append(ae.encode(torch.from_numpy(x)) * scaling_factor)
        index += [captions.setdefault(c, len(captions)) for c in caps]
    ids = torch.tensor([tok.encode(c) for c in captions], dtype=torch.int32)
    states = torch.cat([text(ids[i:i + 256]) for i in range(0, len(ids), 256)])
    return torch.cat(latents), torch.tensor(index), states


def report_cases(n, seed=7):
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        colour, shape, background, *_ = data.sample_scene(rng)
        cases.append({"prompt": f"a {colour} {shape} on a {background} background", "seed": i,
                      "expected": {"color": colour, "shape": shape, "background": background}})
    return cases


@torch.no_grad()
def judged(model, ae, text, tok, cases, settings):
    """Rows of judged accuracy, one per (sampler, steps, guidance, shift), on the same noise."""
    cond = torch.cat([text(torch.tensor([tok.encode(c["prompt"])], dtype=torch.int32)) for c in cases])
    uncond = text(torch.tensor([tok.encode("")], dtype=torch.int32)).expand_as(cond)
    noise = torch.cat([torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(c["seed"])) for c in cases])
    sf = frozen.scaling_factor()
    rows = []
    for sampler, steps, guidance, shift in settings:
        z = flow.sample(model, cond, uncond, noise, steps, guidance, sampler, shift,
                        generator=torch.Generator().manual_seed(1), pack=pack, unpack=lambda t: unpack(t, 4, 8, 8, PATCH))
        pics = ((ae.decode(z / sf).clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        hits = {"background": 0, "color": 0, "shape": 0, "all": 0}
        for c, pic in zip(cases, pics):
            j = judge(pic)
            ok = {k: j[k] == c["expected"][k] for k in ("background", "color", "shape")}
            for k, v in ok.items():
                hits[k] += v
            hits["all"] += all(ok.values())
        rows.append({"sampler": sampler, "steps": steps, "guidance": guidance, "shift": shift, "pairs": len(cases),
                     **{k: round(v / len(cases), 4) for k, v in hits.items()}})
    return rows


PROBE = [("flow_euler", 4, 2.0, 1.0), ("flow_euler", 8, 2.0, 1.0), ("flow_euler", 8, 3.0, 1.0)]


def make_model(width):
    return FlowTransformer(tokens=(8 // PATCH) ** 2, in_channels=4 * PATCH * PATCH, width=width)


def train(latents, index, states, rng, steps, batch, probe_every, probe, width, target=0.9, start=None, lr=1e-3):
    """`start`: a state dict to go on from (a second run of the schedule, warm-restarted)."""
    model = make_model(width)
    if start is not None:
        model.load_state_dict(start)
    params = list(model.parameters())
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warmup = min(200 if start is None else 50, steps // 10 + 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / max(steps, 1)))))
    # a resumed run draws other batches and noise than the run it goes on from
    g = torch.Generator().manual_seed(int(rng.integers(2 ** 31)) + (0 if start is None else 1))
    for step in range(steps):
        idx = torch.randint(0, len(latents), (batch,), generator=g)
        x0 = latents[idx]
        flip = torch.rand(batch, generator=g) < 0.5  # the three shapes are left-right symmetric
        x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
        noise = torch.randn(x0.shape, generator=g)
        # t uniform in [0, 1]: few-step samplers visit t near 1, which logit-normal sampling starves
        t = torch.rand(batch, generator=g)
        xt = flow.add_noise(x0, noise, t[:, None, None, None])
        loss = F.mse_loss(model(pack(xt), t, states[index[idx]]), pack(noise - x0))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        decay = 0.998 if start is not None else min(0.998, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        if step % 100 == 0 or step == steps - 1:
            log(f"transformer {step}/{steps} loss {loss.item():.4f}")
        if probe_every and step > 0 and (step % probe_every == 0 or step == steps - 1):
            with torch.no_grad():
                live = [p.detach().clone() for p in params]
                for e, p in zip(ema, params):
                    p.copy_(e)
                model.eval()
                rows = probe(model)
                for row in rows:
                    log("probe", step, row)
                model.train()
                if max(r["all"] for r in rows if r["steps"] == 8) >= target:
                    log(f"probe: at least {target:.0%} all correct at 8 steps, stopping at step {step}")
                    break
                for l, p in zip(live, params):
                    p.copy_(l)
    with torch.no_grad():
        for e, p in zip(ema, params):
            p.copy_(e)
    return model.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--dataset", type=int, default=24000)
    ap.add_argument("--probe", type=int, default=1000, help="judge 96 pictures every this many steps")
    ap.add_argument("--from-checkpoint", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--width", type=int, default=96)
    ap.add_argument("--resume", action="store_true",
                    help="go on from training/cache/checkpoint.pt for --steps more steps (a warm restart at --lr)")
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    if args.quick:
        args.steps, args.dataset, args.probe = 3, 256, 0
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    start = time.time()
    ae, text, tok = frozen.autoencoder(), frozen.text_encoder(), frozen.tokenizer()
    probe_cases = report_cases(96, seed=11)
    checkpoint = HERE / "cache" / "checkpoint.pt"
    if args.from_checkpoint:
        saved = torch.load(checkpoint)
        model = make_model(saved["width"])
        model.load_state_dict(saved["model"])
        model.eval()
        seconds = saved["seconds"]
    else:
        cached = HERE / "cache" / f"dataset-{args.dataset}.pt"
        if cached.exists():
            latents, index, states = torch.load(cached)
        else:
            latents, index, states = encode_dataset(ae, text, tok, rng, args.dataset, frozen.scaling_factor())
            cached.parent.mkdir(exist_ok=True)
            torch.save((latents, index, states), cached)
        log(f"encoded {len(latents)} pictures, {len(states)} captions; latent std {latents.std().item():.3f}")
        before = torch.load(checkpoint) if args.resume else None
        model = train(latents, index, states, rng, args.steps, args.batch, args.probe,
                      lambda m: judged(m, ae, text, tok, probe_cases, PROBE), args.width,
                      start=before["model"] if before else None, lr=args.lr)
        seconds = time.time() - start + (before["seconds"] if before else 0)
        checkpoint.parent.mkdir(exist_ok=True)
        torch.save({"model": model.state_dict(), "seconds": seconds, "width": args.width}, checkpoint)
    export.export_all(model, OUT)
    (OUT / "golden").mkdir(exist_ok=True)
    (OUT / "golden" / "schedulers.json").write_text(json.dumps(flow.golden(), indent=1) + "\n")
    export.write_manifest(OUT)
    log("exported")
    if not args.quick:
        rows = judged(model, ae, text, tok, report_cases(240), export.REPORT_SETTINGS)
        for row in rows:
            log("report", row)
        export.write_report(OUT, rows, seconds, sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main()
