"""Noise schedule and the reference samplers (DDIM, Euler), independent of the TypeScript runtime.

Written from the papers' equations (DDIM: Song et al. 2020, eq. 12 with eta = 0; Euler: Karras
et al. 2022, Algorithm 1 without churn, in the sigma parameterisation x = x0 + sigma * eps), with
the timestep placement of diffusers' "trailing" spacing, which keeps t = 999 in few-step schedules.
"""
import numpy as np
import torch

SCHEDULER_CONFIG = {
    "_class_name": "DDIMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "trailing",
    "steps_offset": 0,
    "set_alpha_to_one": False,
    "clip_sample": False,
}


def alphas_cumprod(cfg=SCHEDULER_CONFIG):
    n = cfg["num_train_timesteps"]
    betas = np.linspace(cfg["beta_start"] ** 0.5, cfg["beta_end"] ** 0.5, n, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def timesteps(steps, cfg=SCHEDULER_CONFIG):
    n = cfg["num_train_timesteps"]
    return (np.round(np.arange(n, 0, -n / steps)) - 1).astype(np.int64)


class Ddim:
    name = "ddim"

    def __init__(self, steps, cfg=SCHEDULER_CONFIG):
        self.ac = alphas_cumprod(cfg)
        self.timesteps = timesteps(steps, cfg)
        self.final = 1.0 if cfg["set_alpha_to_one"] else self.ac[0]
        self.init_noise_sigma = 1.0

    def scale(self, i):
        return 1.0

    def step(self, eps, i, x):
        t = self.timesteps[i]
        a = self.ac[t]
        a_prev = self.ac[self.timesteps[i + 1]] if i + 1 < len(self.timesteps) else self.final
        x0 = (x - (1 - a) ** 0.5 * eps) / a ** 0.5
        return a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps, x0


class Euler:
    name = "euler"

    def __init__(self, steps, cfg=SCHEDULER_CONFIG):
        ac = alphas_cumprod(cfg)
        self.timesteps = timesteps(steps, cfg)
        self.sigmas = np.append(((1 - ac[self.timesteps]) / ac[self.timesteps]) ** 0.5, 0.0)
        self.init_noise_sigma = float((self.sigmas[0] ** 2 + 1) ** 0.5)

    def scale(self, i):
        return 1.0 / (self.sigmas[i] ** 2 + 1) ** 0.5

    def step(self, eps, i, x):
        sigma, nxt = self.sigmas[i], self.sigmas[i + 1]
        x0 = x - sigma * eps
        return x + (nxt - sigma) * eps, x0


SAMPLERS = {"ddim": Ddim, "euler": Euler}


@torch.no_grad()
def sample(unet, cond, uncond, noise, steps, guidance, sampler="ddim"):
    """Latents from noise: `cond`/`uncond` are text encoder outputs, one row per picture."""
    s = SAMPLERS[sampler](steps)
    x = noise.double() * s.init_noise_sigma
    for i, t in enumerate(s.timesteps):
        xin = (x * s.scale(i)).float()
        tt = torch.full((x.shape[0],), float(t))
        if guidance > 1:
            out = unet(torch.cat([xin, xin]), torch.cat([tt, tt]), torch.cat([uncond, cond])).double()
            eu, ec = out.chunk(2)
            eps = eu + guidance * (ec - eu)
        else:
            eps = unet(xin, tt, cond).double()
        x, _ = s.step(eps, i, x)
    return x.float()


def golden(cfg=SCHEDULER_CONFIG, seed=1234):
    """Fixed cases for the runtime's scheduler tests: schedules and one step's inputs/outputs."""
    rng = np.random.default_rng(seed)
    out = {"config": cfg}
    for name, cls in SAMPLERS.items():
        cases = []
        for steps, index in [(1, 0), (4, 2), (20, 7), (20, 19), (50, 0)]:
            s = cls(steps, cfg)
            x = rng.standard_normal(16) * s.init_noise_sigma
            eps = rng.standard_normal(16)
            prev, x0 = s.step(eps, index, x)
            case = {"steps": steps, "timesteps": s.timesteps.tolist(), "initNoiseSigma": s.init_noise_sigma,
                    "step": {"index": index, "sample": x.tolist(), "modelOutput": eps.tolist(),
                             "scaledInput": (x * s.scale(index)).tolist(),
                             "prevSample": prev.tolist(), "denoised": x0.tolist()}}
            if name == "euler":
                case["sigmas"] = s.sigmas.tolist()
            cases.append(case)
        out[name] = cases
    return out
