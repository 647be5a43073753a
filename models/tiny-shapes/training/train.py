"""Train tiny-shapes, export it to ONNX, write the manifest, the golden numbers and the report.

    python3 models/tiny-shapes/training/train.py            # the whole run (~45 min on 2 cores)
    python3 models/tiny-shapes/training/train.py --quick    # seconds: random-ish weights, same files

Deterministic: one seed drives the data, the initialisation and the sampling; torch runs with
deterministic algorithms on a fixed number of threads.
"""
import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import bpe
import data
import diffusion
import export
from judge import judge
from nets import AutoEncoder, TextEncoder, UNet

HERE = Path(__file__).resolve().parent
OUT = HERE.parent
SEED = 20261122


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def make_tokenizer(rng):
    merges = bpe.learn_merges(data.caption_corpus(rng))
    vocab = bpe.build_vocab(merges)
    bpe.write(OUT / "tokenizer", merges, vocab)
    return bpe.Tokenizer(merges, vocab)


def train_autoencoder(rng, steps):
    ae = AutoEncoder()
    opt = torch.optim.AdamW(ae.parameters(), lr=2e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=max(steps, 1), pct_start=0.1)
    for step in range(steps):
        x = torch.from_numpy(data.batch(rng, 32, with_captions=False)[0])
        z = ae.encode(x)
        # a little latent noise makes the decoder tolerant of the sampler's imperfect latents
        recon = ae.decode(z + 0.1 * z.detach().std() * torch.randn_like(z))
        loss = F.l1_loss(recon, x) + F.mse_loss(recon, x) + 1e-4 * z.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"autoencoder {step}/{steps} loss {loss.item():.4f}")
    return ae.eval()


@torch.no_grad()
def encode_dataset(ae, tok, rng, n):
    latents, ids = [], []
    for start in range(0, n, 256):
        x, captions = data.batch(rng, min(256, n - start))
        latents.append(ae.encode(torch.from_numpy(x)))
        ids += [tok.encode(c) for c in captions]
    return torch.cat(latents), torch.tensor(ids, dtype=torch.int32)


def train_unet(latents, ids, vocab_size, rng, steps, batch=64):
    text, unet = TextEncoder(vocab_size), UNet()
    params = list(text.parameters()) + list(unet.parameters())
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    warmup = min(200, steps // 10 + 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / max(steps, 1)))))
    ac = torch.from_numpy(diffusion.alphas_cumprod()).float()
    g = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
    for step in range(steps):
        idx = torch.randint(0, len(latents), (batch,), generator=g)
        z0 = latents[idx]
        flip = torch.rand(batch, generator=g) < 0.5  # the three shapes are left-right symmetric
        z0 = torch.where(flip[:, None, None, None], z0.flip(-1), z0)
        t = torch.randint(0, 1000, (batch,), generator=g)
        eps = torch.randn(z0.shape, generator=g)
        a = ac[t][:, None, None, None]
        zt = a.sqrt() * z0 + (1 - a).sqrt() * eps
        loss = F.mse_loss(unet(zt, t.float(), text(ids[idx])), eps)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        if step % 100 == 0 or step == steps - 1:
            log(f"unet {step}/{steps} loss {loss.item():.4f}")
    with torch.no_grad():
        for e, p in zip(ema, params):
            p.copy_(e)
    return text.eval(), unet.eval()


REPORT_SETTINGS = [("ddim", 1, 1.0), ("ddim", 1, 2.0), ("ddim", 4, 1.0), ("ddim", 4, 2.0),
                   ("ddim", 20, 1.0), ("ddim", 20, 2.0), ("ddim", 20, 4.0), ("euler", 20, 2.0)]


def report_cases(n=240, seed=7):
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        colour, shape, background, *_ = data.sample_scene(rng)
        cases.append({"prompt": f"a {colour} {shape} on a {background} background", "seed": i,
                      "expected": {"color": colour, "shape": shape, "background": background}})
    return cases


@torch.no_grad()
def quality_report(text, unet, ae, tok, scaling_factor, n):
    cases = report_cases(n)
    cond = torch.cat([text(torch.tensor([tok.encode(c["prompt"])], dtype=torch.int32)) for c in cases])
    uncond = text(torch.tensor([tok.encode("")], dtype=torch.int32)).expand_as(cond)
    noise = torch.cat([torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(c["seed"])) for c in cases])
    rows = []
    for sampler, steps, guidance in REPORT_SETTINGS:
        z = diffusion.sample(unet, cond, uncond, noise, steps, guidance, sampler)
        pics = ((ae.decode(z / scaling_factor).clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        hits = {"background": 0, "color": 0, "shape": 0, "all": 0}
        for c, pic in zip(cases, pics):
            j = judge(pic)
            ok = {k: j[k] == c["expected"][k] for k in ("background", "color", "shape")}
            for k, v in ok.items():
                hits[k] += v
            hits["all"] += all(ok.values())
        row = {"sampler": sampler, "steps": steps, "guidance": guidance, "pairs": len(cases),
               **{k: round(v / len(cases), 4) for k, v in hits.items()}}
        log("report", row)
        rows.append(row)
    return rows


def write_report(rows, seconds, params):
    (OUT / "report.json").write_text(json.dumps({"rows": rows, "trainSeconds": round(seconds), "parameters": params}, indent=2) + "\n")
    lines = ["# tiny-shapes quality report", "",
             "Written by `training/train.py` with its own PyTorch sampler (not the TypeScript runtime).",
             f"{rows[0]['pairs']} (prompt, seed) pairs, prompts `a {{colour}} {{shape}} on a {{background}} background`,",
             "judged by `training/judge.py`. Guidance 1 means no classifier-free guidance.", "",
             "| sampler | steps | guidance | background | shape colour | shape kind | all three |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['sampler']} | {r['steps']} | {r['guidance']:g} | {r['background']:.1%} | {r['color']:.1%} | {r['shape']:.1%} | {r['all']:.1%} |")
    lines += ["", "The model's defaults are DDIM, 20 steps, guidance 2. Stronger guidance bends the shapes",
              "(squares go concave, circles lumpy), and shape kind falls. One or few steps need a distilled",
              "model (as SD-Turbo and LCM are distilled from SD): an epsilon-prediction model cannot jump",
              "from pure noise to a sharp picture in one step, and the 1-step rows show it.",
              "", f"Training took {seconds / 60:.0f} minutes on this machine (one thread, other work",
              "running beside it); parameters: " +
              ", ".join(f"{k} {v:,}" for k, v in params.items()) + ".", ""]
    (OUT / "REPORT.md").write_text("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a few steps only: the same files, untrained weights")
    ap.add_argument("--ae-steps", type=int, default=1200)
    ap.add_argument("--unet-steps", type=int, default=4000)
    ap.add_argument("--dataset", type=int, default=40000)
    ap.add_argument("--from-checkpoint", action="store_true",
                    help="skip training: export and report from training/cache/checkpoint.pt")
    # OpenMP threads that must wait for a busy core stall each other badly: on a machine that is
    # doing other work too, one thread trains faster than two (measured here: >4 s vs 0.6 s a step).
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.quick:
        args.ae_steps, args.unet_steps, args.dataset = 3, 3, 512
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    start = time.time()

    tok = make_tokenizer(rng)
    checkpoint = HERE / "cache" / "checkpoint.pt"
    if args.from_checkpoint:
        saved = torch.load(checkpoint)
        text, unet, ae = TextEncoder(len(tok.vocab)), UNet(), AutoEncoder()
        for name, module in (("text", text), ("unet", unet), ("ae", ae)):
            module.load_state_dict(saved[name])
            module.eval()
        scaling_factor, seconds = saved["scaling_factor"], saved["seconds"]
    else:
        ae = train_autoencoder(rng, args.ae_steps)
        latents, ids = encode_dataset(ae, tok, rng, args.dataset)
        scaling_factor = round(float(1.0 / latents.std()), 5)
        log(f"latent std {latents.std().item():.4f}; scaling factor {scaling_factor}")
        text, unet = train_unet(latents * scaling_factor, ids, len(tok.vocab), rng, args.unet_steps)
        seconds = time.time() - start
        checkpoint.parent.mkdir(exist_ok=True)
        torch.save({"text": text.state_dict(), "unet": unet.state_dict(), "ae": ae.state_dict(),
                    "scaling_factor": scaling_factor, "seconds": seconds}, checkpoint)

    (OUT / "scheduler").mkdir(exist_ok=True)
    (OUT / "scheduler" / "scheduler_config.json").write_text(json.dumps(diffusion.SCHEDULER_CONFIG, indent=2) + "\n")
    (OUT / "golden").mkdir(exist_ok=True)
    (OUT / "golden" / "schedulers.json").write_text(json.dumps(diffusion.golden(), indent=1) + "\n")
    export.export_all(text, unet, ae, scaling_factor, OUT)
    export.write_manifest(OUT, scaling_factor)
    log("exported")
    if not args.quick:
        params = {name: sum(p.numel() for p in m.parameters()) for name, m in
                  [("text encoder", text), ("unet", unet), ("autoencoder", ae)]}
        write_report(quality_report(text, unet, ae, tok, scaling_factor, 240), seconds, params)


if __name__ == "__main__":
    main()
