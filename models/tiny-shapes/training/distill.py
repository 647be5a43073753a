"""Distil tiny-shapes into tiny-shapes-turbo: a UNet that draws the picture in 1 to 4 steps.

    python3 models/tiny-shapes/training/distill.py           # stage 1: teacher pictures, 1,000 student steps
    python3 models/tiny-shapes/training/distill.py --init models/tiny-shapes/training/cache/student-1000.pt \
        --steps 500 --lr 1e-4                                 # stage 2: the committed model
    python3 models/tiny-shapes/training/distill.py --quick   # seconds: the same files, barely trained

Measured here on one thread, with other work on the machine: teacher pictures ~25 s a chunk of
256 when the machine was quiet (17 chunks), student steps 0.6 s (quiet) to 1.9 s (loaded).

The teacher (training/cache/checkpoint.pt, written by train.py) draws a picture for each seeded
noise and random caption with DDIM, 20 steps, guidance 2. The student starts as a copy of the
teacher's UNet, keeps its architecture and ONNX inputs and outputs, and still predicts epsilon,
so the runtime's schedulers apply unchanged; it is trained without guidance (one UNet pass a
step) so that its x0 estimate, x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), is the
teacher's picture:

- at t = 999 from the teacher's own starting noise (the 1-step picture, and each sampler's
  first step);
- at the later timesteps of the few-step samplers, from x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) n
  with fresh noise n, which is what those samplers feed it after re-noising their estimate;
- at a few uniformly drawn timesteps, so that 20-step DDIM still works.

Tokenizer, text encoder and VAE are the teacher's files, copied byte for byte.
Deterministic for a given --threads: one seed drives captions, noise, batches and sampling.
"""
import argparse
import hashlib
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch

import bpe
import data
import diffusion
import export
from judge import judge
from nets import AutoEncoder, TextEncoder, UNet
from train import report_cases  # the same (prompt, seed) pairs as tiny-shapes' report

HERE = Path(__file__).resolve().parent
TEACHER = HERE.parent
TURBO = TEACHER.parent / "tiny-shapes-turbo"
CACHE = HERE / "cache"
SEED = 20261123
COPIED = ["tokenizer", "text_encoder", "vae_decoder", "vae_encoder"]
TEACHER_STEPS, TEACHER_GUIDANCE = 20, 2.0
CHUNK = 256
# LCM's boundary conditions (Song et al. 2023, consistency models; diffusers' LCMScheduler):
# c_skip = sd^2 / ((10 t)^2 + sd^2), c_out = 10 t / sqrt((10 t)^2 + sd^2).
LCM_ORIGINAL_STEPS, LCM_TIMESTEP_SCALING, LCM_SIGMA_DATA = 50, 10.0, 0.5
SCHEDULER_CONFIG = {**diffusion.SCHEDULER_CONFIG, "original_inference_steps": LCM_ORIGINAL_STEPS,
                    "timestep_scaling": LCM_TIMESTEP_SCALING}
DEFAULTS = {"scheduler": "turbo", "steps": 1, "guidance": 0}
DESCRIPTION = ("tiny-shapes distilled to draw in 1 to 4 steps without guidance (as SD-Turbo is to SD 2.1): "
               "64x64 pictures of one coloured circle, square or triangle on a plain background.")


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def load_tokenizer():
    lines = (TEACHER / "tokenizer" / "merges.txt").read_text().splitlines()
    merges = [tuple(line.split()) for line in lines[1:] if line]
    return bpe.Tokenizer(merges, json.loads((TEACHER / "tokenizer" / "vocab.json").read_text()))


def load_teacher(tok):
    saved = torch.load(CACHE / "checkpoint.pt")
    text, unet, ae = TextEncoder(len(tok.vocab)), UNet(), AutoEncoder()
    for name, module in (("text", text), ("unet", unet), ("ae", ae)):
        module.load_state_dict(saved[name])
        module.eval().requires_grad_(False)
    return text, unet, ae, saved["scaling_factor"]


# ---- the few-step samplers (the runtime's `turbo` and `lcm` schedulers follow the same formulas)

ALPHAS = diffusion.alphas_cumprod()


def turbo_timesteps(steps):
    """Trailing spacing from 999: 1 -> [999], 2 -> [999, 499], 4 -> [999, 749, 499, 249]."""
    return diffusion.timesteps(steps)


def lcm_timesteps(steps, original=LCM_ORIGINAL_STEPS, n=1000):
    """LCM's schedule: every k-th of the `original` DDIM timesteps [19, 39, ..., 999], from the
    top, k = original // steps (4 steps: [999, 759, 519, 279])."""
    origin = np.arange(1, original + 1) * (n // original) - 1
    return origin[::-1][::original // steps][:steps].copy()


def lcm_scalings(t):
    scaled = t * LCM_TIMESTEP_SCALING
    return LCM_SIGMA_DATA ** 2 / (scaled ** 2 + LCM_SIGMA_DATA ** 2), scaled / (scaled ** 2 + LCM_SIGMA_DATA ** 2) ** 0.5


def few_step_update(kind, timesteps, i, eps, x, noise):
    """One step of `turbo` or `lcm`: the x0 estimate (LCM: through its boundary conditions), then,
    unless this is the last step, that estimate re-noised with `noise` to the next timestep."""
    a = float(ALPHAS[timesteps[i]])
    x0 = (x - (1 - a) ** 0.5 * eps) / a ** 0.5
    if kind == "lcm":
        c_skip, c_out = lcm_scalings(float(timesteps[i]))
        x0 = c_out * x0 + c_skip * x
    if i + 1 == len(timesteps):
        return x0, x0
    a = float(ALPHAS[timesteps[i + 1]])
    return a ** 0.5 * x0 + (1 - a) ** 0.5 * noise, x0


FEW_STEP = {"turbo": turbo_timesteps, "lcm": lcm_timesteps}


@torch.no_grad()
def sample(unet, cond, noise, kind, steps, generators):
    """Latents from noise without guidance. `generators` (one per picture, already used for the
    starting noise) give the fresh noise of each re-noising."""
    if kind not in FEW_STEP:
        return diffusion.sample(unet, cond, None, noise, steps, 1.0, kind)
    timesteps = FEW_STEP[kind](steps)
    x = noise.double()
    for i, t in enumerate(timesteps):
        eps = unet(x.float(), torch.full((x.shape[0],), float(t)), cond).double()
        fresh = torch.cat([torch.randn(1, *x.shape[1:], generator=g) for g in generators]).double()
        x, _ = few_step_update(kind, timesteps, i, eps, x, fresh)
    return x.float()


def golden(seed=4321):
    """Schedules and one step's inputs and outputs for the runtime's turbo and LCM tests."""
    rng = np.random.default_rng(seed)
    out = {"config": SCHEDULER_CONFIG}
    for kind, schedule in FEW_STEP.items():
        cases = []
        for steps, index in [(1, 0), (2, 0), (4, 1), (4, 3), (8, 5)]:
            timesteps = schedule(steps)
            x, eps, noise = (rng.standard_normal(16) for _ in range(3))
            prev, x0 = few_step_update(kind, timesteps, index, eps, x, noise)
            cases.append({"steps": steps, "timesteps": timesteps.tolist(),
                          "step": {"index": index, "sample": x.tolist(), "modelOutput": eps.tolist(),
                                   "noise": noise.tolist(), "prevSample": prev.tolist(), "denoised": x0.tolist()}})
        out[kind] = cases
    return out


# ---- teacher targets

@torch.no_grad()
def teacher_chunk(index, size, text, unet, tok):
    """`size` teacher pictures (latents), their starting noise and caption token ids; seeded by
    the chunk's index, so a longer run reuses a shorter run's chunks."""
    path = CACHE / "distill" / f"teacher-{size}-{index}.pt"
    if path.exists():
        return torch.load(path)
    rng = np.random.default_rng([SEED, index])
    captions = [data.caption_for(rng, *data.sample_scene(rng)[:3]) for _ in range(size)]
    ids = torch.tensor([tok.encode(c) for c in captions], dtype=torch.int32)
    noise = torch.randn(size, 4, 8, 8, generator=torch.Generator().manual_seed(SEED * 1000 + index))
    cond = text(ids)
    uncond = text(torch.tensor([tok.encode("")], dtype=torch.int32)).expand_as(cond)
    x0 = diffusion.sample(unet, cond, uncond, noise, TEACHER_STEPS, TEACHER_GUIDANCE)
    chunk = {"ids": ids, "noise": noise, "x0": x0}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(chunk, path)
    return chunk


def teacher_targets(n, size, text, unet, tok):
    chunks = []
    for index in range(math.ceil(n / size)):
        chunks.append(teacher_chunk(index, size, text, unet, tok))
        log(f"teacher {(index + 1) * size}/{n}")
    return {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}


# ---- the student

# The later timesteps of turbo (2 and 4 steps) and of LCM (4 steps; also the evenly spaced
# variant [999, 759, 499, 259] that newer LCM code uses).
RENOISED_TIMESTEPS = sorted({int(t) for s in (2, 3, 4) for k in FEW_STEP for t in FEW_STEP[k](s)[1:]} | {259})


def distill(text, start, targets, steps, batch, lr, generator):
    student = UNet()
    student.load_state_dict(start)
    student.train().requires_grad_(True)
    params = list(student.parameters())
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warmup = min(100, steps // 10 + 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / max(steps, 1)))))
    with torch.no_grad():
        cond_all = torch.cat([text(targets["ids"][i:i + 512]) for i in range(0, len(targets["ids"]), 512)])
    ac = torch.from_numpy(ALPHAS).float()
    renoised = torch.tensor(RENOISED_TIMESTEPS)
    # the 1-step picture is the hardest target (the multi-step samplers reached 92-95% in a
    # 400-step trial with half the batch here, 1 step 65%): three in four rows go to it
    half = batch * 3 // 4
    for step in range(steps):
        idx = torch.randint(0, len(cond_all), (batch,), generator=generator)
        x0, cond = targets["x0"][idx], cond_all[idx]
        # first rows: the teacher's own starting noise at t = 999; the rest: re-noised
        # pictures, three in four at the few-step samplers' timesteps, the rest anywhere
        t_late = torch.where(torch.rand(batch - half, generator=generator) < 0.75,
                             renoised[torch.randint(0, len(renoised), (batch - half,), generator=generator)],
                             torch.randint(0, 1000, (batch - half,), generator=generator))
        t = torch.cat([torch.full((half,), 999), t_late])
        a = ac[t][:, None, None, None]
        fresh = torch.randn(x0[half:].shape, generator=generator)
        xt = torch.cat([targets["noise"][idx[:half]], a[half:].sqrt() * x0[half:] + (1 - a[half:]).sqrt() * fresh])
        eps = student(xt, t.float(), cond)
        estimate = (xt - (1 - a).sqrt() * eps) / a.sqrt()
        loss = (estimate - x0).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        decay = min(0.998, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        if step % 50 == 0 or step == steps - 1:
            with torch.no_grad():
                first = (estimate[:half] - x0[:half]).pow(2).mean().item()
            log(f"student {step}/{steps} loss {loss.item():.4f} (t=999: {first:.4f})")
    with torch.no_grad():
        for e, p in zip(ema, params):
            p.copy_(e)
    return student.eval().requires_grad_(False)


# ---- report

REPORT_SETTINGS = [("turbo", 1), ("turbo", 2), ("turbo", 4), ("lcm", 4), ("ddim", 20)]


@torch.no_grad()
def quality_report(text, unet, ae, tok, scaling_factor, n=240):
    cases = report_cases(n)
    cond = torch.cat([text(torch.tensor([tok.encode(c["prompt"])], dtype=torch.int32)) for c in cases])
    rows = []
    for kind, steps in REPORT_SETTINGS:
        generators = [torch.Generator().manual_seed(c["seed"]) for c in cases]
        noise = torch.cat([torch.randn(1, 4, 8, 8, generator=g) for g in generators])
        z = sample(unet, cond, noise, kind, steps, generators)
        pics = ((ae.decode(z / scaling_factor).clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        hits = {"background": 0, "color": 0, "shape": 0, "all": 0}
        for c, pic in zip(cases, pics):
            j = judge(pic)
            ok = {k: j[k] == c["expected"][k] for k in ("background", "color", "shape")}
            for k, v in ok.items():
                hits[k] += v
            hits["all"] += all(ok.values())
        row = {"sampler": kind, "steps": steps, "guidance": 0, "pairs": len(cases),
               **{k: round(v / len(cases), 4) for k, v in hits.items()}}
        log("report", row)
        rows.append(row)
    return rows


def write_report(out, rows, settings):
    (out / "report.json").write_text(json.dumps({"rows": rows, "settings": settings}, indent=2) + "\n")
    lines = ["# tiny-shapes-turbo quality report", "",
             "Written by `models/tiny-shapes/training/distill.py` with its own PyTorch samplers (not the",
             f"TypeScript runtime). {rows[0]['pairs']} (prompt, seed) pairs, the same as tiny-shapes' report: prompts",
             "`a {colour} {shape} on a {background} background`, judged by `training/judge.py`.",
             "No classifier-free guidance (one UNet pass a step). Each picture's generator, seeded",
             "with its seed, draws the starting noise and then each re-noising's fresh noise.", "",
             "| sampler | steps | guidance | background | shape colour | shape kind | all three |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['sampler']} | {r['steps']} | {r['guidance']:g} | {r['background']:.1%} | {r['color']:.1%} | {r['shape']:.1%} | {r['all']:.1%} |")
    lines += ["", f"Timesteps: turbo 1 step {turbo_timesteps(1).tolist()}, 2 steps {turbo_timesteps(2).tolist()},",
              f"4 steps {turbo_timesteps(4).tolist()}; LCM 4 steps {lcm_timesteps(4).tolist()}. The teacher (tiny-shapes,",
              "DDIM 20 steps, guidance 2) scores 95.0% all three on these pairs.", "",
              f"{settings['teacher']:,} teacher pictures, {settings['steps']:,} student steps of {settings['batch']}, "
              f"learning rate {settings['lr']:g}, {settings['threads']} thread(s)" +
              (f", starting from {settings['init']}." if settings.get("init") else "."),
              f"Wall time on this machine: teacher pictures {settings['teacherSeconds'] / 60:.0f} min "
              "(0 when read from the cache), student "
              f"{settings['studentSeconds'] / 60:.0f} min.", ""]
    (out / "REPORT.md").write_text("\n".join(lines))


def write_model(out, student, scaling_factor):
    out.mkdir(parents=True, exist_ok=True)
    for part in COPIED:
        shutil.rmtree(out / part, ignore_errors=True)
        shutil.copytree(TEACHER / part, out / part)
    export.export_unet(student, out)
    (out / "scheduler").mkdir(exist_ok=True)
    (out / "scheduler" / "scheduler_config.json").write_text(json.dumps(SCHEDULER_CONFIG, indent=2) + "\n")
    (out / "golden").mkdir(exist_ok=True)
    (out / "golden" / "schedulers.json").write_text(json.dumps(golden(), indent=1) + "\n")
    export.write_manifest(out, scaling_factor, "tiny-shapes-turbo", DESCRIPTION, DEFAULTS)
    for part in COPIED:
        for path in sorted((TEACHER / part).rglob("*")):
            copy = out / path.relative_to(TEACHER)
            assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(copy.read_bytes()).digest(), copy


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a few steps only, written to training/cache/turbo-quick")
    ap.add_argument("--teacher", type=int, default=4352, help="teacher pictures")
    ap.add_argument("--steps", type=int, default=1000, help="student optimiser steps")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--init", type=Path, default=None, help="start from a saved student (training/cache/student-1000.pt) instead of the teacher")
    ap.add_argument("--report", type=int, default=240, help="report pairs (0: no report)")
    # one thread: OpenMP threads waiting for a busy core stall each other (see train.py)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    size = CHUNK
    if args.quick:
        args.teacher, args.steps, args.batch, args.report, size = 16, 3, 8, 0, 16
        args.out = args.out or CACHE / "turbo-quick"
    out = args.out or TURBO
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    start = time.time()

    tok = load_tokenizer()
    text, teacher, ae, scaling_factor = load_teacher(tok)
    targets = teacher_targets(args.teacher, size, text, teacher, tok)
    teacher_seconds = time.time() - start
    start_weights = torch.load(args.init)["unet"] if args.init else teacher.state_dict()
    student = distill(text, start_weights, targets, args.steps, args.batch, args.lr, torch.Generator().manual_seed(SEED + 1 if args.init else SEED))
    student_seconds = time.time() - start - teacher_seconds
    torch.save({"unet": student.state_dict()}, CACHE / ("student-quick.pt" if args.quick else f"student-{args.steps}{'-continued' if args.init else ''}.pt"))
    write_model(out, student, scaling_factor)
    log(f"exported to {out}")
    if args.report:
        settings = {"teacher": len(targets["x0"]), "steps": args.steps, "batch": args.batch, "lr": args.lr,
                    "init": args.init and str(args.init), "threads": args.threads, "teacherSeconds": round(teacher_seconds), "studentSeconds": round(student_seconds)}
        write_report(out, quality_report(text, student, ae, tok, scaling_factor, args.report), settings)


if __name__ == "__main__":
    main()
