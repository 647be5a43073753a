"""Rectified flow: the noising, the time shift and the Euler sampler, written from the papers.

Convention of SD3 (Esser et al. 2024), FLUX and Z-Image: x_t = (1 - t) x0 + t noise, t in [0, 1],
the model predicts the velocity v = dx_t/dt = noise - x0; sampling integrates from t = 1 (pure
noise) down to t = 0. A step from t to t' is x' = x + (t' - t) v (Euler), and x0 = x - t v.

Time shift (SD3 eq. 23): t' = shift t / (1 + (shift - 1) t); FLUX's dynamic form takes the shift
as exp(mu) with mu linear in the image token count (base 256 tokens -> 0.5, 4096 -> 1.15) and
applies it as exp(mu) / (exp(mu) + (1 / t - 1)), the same map. The few-step variant ("flow
turbo") re-noises: it predicts x0 and draws fresh noise at the next time, x' = (1 - t') x0 + t'
noise, the sampler of distilled few-step flow models. The schedule is N+1 times linspace(1, 0)
shifted, as diffusers' FlowMatchEulerDiscreteScheduler with a zero appended.

`python3 flow.py --golden` rewrites ../golden/schedulers.json without training.
"""
import math

import numpy as np
import torch

BASE_SEQ, MAX_SEQ, BASE_SHIFT, MAX_SHIFT = 256, 4096, 0.5, 1.15


def shift_time(t, shift):
    t = np.asarray(t, np.float64)
    return shift * t / (1 + (shift - 1) * t)


def dynamic_shift(image_tokens):
    """FLUX's resolution-dependent shift, exp(mu): mu interpolates linearly in the token count."""
    slope = (MAX_SHIFT - BASE_SHIFT) / (MAX_SEQ - BASE_SEQ)
    return math.exp(image_tokens * slope + BASE_SHIFT - slope * BASE_SEQ)


def times(steps, shift=1.0):
    """t_0 = 1 > t_1 > ... > t_{steps-1}, then t_steps = 0."""
    return np.append(shift_time(np.linspace(1.0, 0.0, steps + 1)[:-1], shift), 0.0)


class FlowEuler:
    name = "flow_euler"
    stochastic = False

    def __init__(self, steps, shift=1.0):
        self.sigmas = times(steps, shift)
        self.timesteps = self.sigmas[:-1]

    def step(self, v, i, x, noise=None):
        t, nxt = self.sigmas[i], self.sigmas[i + 1]
        return x + (nxt - t) * v, x - t * v


class FlowTurbo(FlowEuler):
    name = "flow_turbo"
    stochastic = True

    def step(self, v, i, x, noise=None):
        t, nxt = self.sigmas[i], self.sigmas[i + 1]
        x0 = x - t * v
        return (x0 if nxt == 0 else (1 - nxt) * x0 + nxt * noise), x0


SAMPLERS = {"flow_euler": FlowEuler, "flow_turbo": FlowTurbo}


def add_noise(x0, noise, t):
    return (1 - t) * x0 + t * noise


@torch.no_grad()
def sample(model, cond, uncond, noise, steps, guidance, sampler="flow_euler", shift=1.0, generator=None,
           pack=lambda z: z, unpack=lambda z: z):
    """Latents from noise [B,4,8,8]; `model` takes and returns packed tokens."""
    s = SAMPLERS[sampler](steps, shift)
    x = noise.double()
    for i, t in enumerate(s.timesteps):
        xin = pack(x.float())
        tt = torch.full((x.shape[0],), float(t))
        if guidance > 1:
            out = model(torch.cat([xin, xin]), torch.cat([tt, tt]), torch.cat([uncond, cond]))
            vu, vc = unpack(out).double().chunk(2)
            v = vu + guidance * (vc - vu)
        else:
            v = unpack(model(xin, tt, cond)).double()
        x, _ = s.step(v, i, x, torch.randn(x.shape, generator=generator, dtype=x.dtype) if s.stochastic else None)
    return x.float()


def golden(seed=4321):
    """Schedules at several steps and shifts, and runs of consecutive steps with their inputs and
    outputs (and the noise the turbo variant adds), for the runtime's scheduler tests."""
    rng = np.random.default_rng(seed)
    out = {"convention": "x_t = (1 - t) x0 + t noise; v = noise - x0",
           "dynamicShift": [{"imageTokens": n, "shift": dynamic_shift(n)} for n in (16, 256, 1024, 4096)],
           "shiftTime": [{"shift": s, "t": t, "shifted": float(shift_time(t, s))}
                         for s in (1.0, 3.0, 1.7) for t in (0.0, 0.25, 0.5, 1.0)]}
    for name, cls in SAMPLERS.items():
        cases = []
        for steps, shift, start, count in [(1, 1.0, 0, 1), (2, 1.0, 0, 2), (4, 1.0, 0, 4), (4, 3.0, 0, 4),
                                           (8, 2.0, 3, 5), (9, 3.0, 0, 3)]:
            s = cls(steps, shift)
            x = rng.standard_normal(16)
            run = {"start": start, "sample": x.tolist(), "steps": []}
            for i in range(start, start + count):
                v = rng.standard_normal(16)
                noise = rng.standard_normal(16) if s.stochastic else None
                x, x0 = s.step(v, i, x, noise)
                step = {"modelOutput": v.tolist(), "prevSample": x.tolist(), "denoised": x0.tolist()}
                if noise is not None:
                    step["noise"] = noise.tolist()
                run["steps"].append(step)
            cases.append({"steps": steps, "shift": shift, "timesteps": s.timesteps.tolist(),
                          "sigmas": s.sigmas.tolist(), "run": run})
        out[name] = cases
    # img2img: strength s starts at the schedule's time nearest below s, noised by interpolation
    x0, noise = rng.standard_normal(16), rng.standard_normal(16)
    out["addNoise"] = [{"t": t, "x0": x0.tolist(), "noise": noise.tolist(), "noised": add_noise(x0, noise, t).tolist()}
                       for t in (0.0, 0.3, 0.75, 1.0)]
    return out


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    if sys.argv[1:] != ["--golden"]:
        sys.exit("usage: python3 flow.py --golden   (rewrites ../golden/schedulers.json)")
    target = Path(__file__).resolve().parent.parent / "golden" / "schedulers.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(golden(), indent=1) + "\n")
    print(f"wrote {target}")
