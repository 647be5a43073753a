"""Noise schedule and the reference samplers, independent of the TypeScript runtime.

Written from the papers' equations (DDIM: Song et al. 2020, eq. 12 with eta = 0; Euler: Karras
et al. 2022, Algorithm 1 without churn, in the sigma parameterisation x = x0 + sigma * eps;
Euler ancestral: the same with DDPM's ancestral noise; DPM++ 2M: Lu et al. 2022, Algorithm 2,
worked here in the variance-preserving form with alpha_t, sigma_t and lambda_t, while the runtime
works in sigma alone; LCM: Luo et al. 2023, Algorithm 1, with the boundary conditions of Song et
al. 2023; Turbo: Sauer et al. 2023's x0 prediction and re-noising), with the timestep placement
of diffusers' "trailing" spacing, which keeps t = 999 in few-step schedules.

`python3 diffusion.py --golden` rewrites ../golden/schedulers.json without training.
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

    stochastic = False

    def step(self, eps, i, x, noise=None):
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

    stochastic = False

    def step(self, eps, i, x, noise=None):
        sigma, nxt = self.sigmas[i], self.sigmas[i + 1]
        x0 = x - sigma * eps
        return x + (nxt - sigma) * eps, x0


class EulerAncestral(Euler):
    """Euler down to sigma_down, then fresh noise of sigma_up: the total is sigma_next again."""
    name = "euler_a"
    stochastic = True

    def step(self, eps, i, x, noise=None):
        sigma, nxt = self.sigmas[i], self.sigmas[i + 1]
        up = min(nxt, (nxt ** 2 * (sigma ** 2 - nxt ** 2) / sigma ** 2) ** 0.5)
        down = (nxt ** 2 - up ** 2) ** 0.5
        x0 = x - sigma * eps
        d = (x - x0) / sigma
        return x + d * (down - sigma) + noise * up, x0


class DpmSolver2M:
    """DPM-Solver++(2M) on the VP process x_vp = alpha x0 + sigma_vp eps; sample in the sigma form.

    The runtime's sample is x = x_vp / alpha (sigma = sigma_vp / alpha); this class steps x_vp with
    lambda = log(alpha / sigma_vp) and converts at both ends, so it shares no algebra with it.
    """
    stochastic = False

    def __init__(self, steps, cfg=SCHEDULER_CONFIG, karras=False):
        ac = alphas_cumprod(cfg)
        train_sigmas = ((1 - ac) / ac) ** 0.5
        if karras:
            self.name = "dpmpp_2m_karras"
            lo, hi = train_sigmas[0] ** (1 / 7), train_sigmas[-1] ** (1 / 7)
            sig = (hi + np.linspace(0, 1, steps) * (lo - hi)) ** 7
            self.timesteps = np.interp(np.log(sig), np.log(train_sigmas), np.arange(len(ac)))
        else:
            self.name = "dpmpp_2m"
            self.timesteps = timesteps(steps, cfg)
            sig = train_sigmas[self.timesteps]
        self.sigmas = np.append(sig, 0.0)
        self.init_noise_sigma = float((self.sigmas[0] ** 2 + 1) ** 0.5)
        self.old_x0 = None

    def scale(self, i):
        return 1.0 / (self.sigmas[i] ** 2 + 1) ** 0.5

    @staticmethod
    def _vp(sigma):
        """alpha, sigma_vp and lambda of the VP process at the noise level `sigma`."""
        alpha = 1.0 / (1.0 + sigma ** 2) ** 0.5
        sigma_vp = sigma * alpha
        return alpha, sigma_vp, (np.log(alpha / sigma_vp) if sigma > 0 else np.inf)

    def step(self, eps, i, x, noise=None):
        a_s, s_s, lam_s = self._vp(self.sigmas[i])
        a_t, s_t, lam_t = self._vp(self.sigmas[i + 1])
        x_vp = x * a_s
        x0 = (x_vp - s_s * eps) / a_s
        if self.sigmas[i + 1] == 0:
            out = x0
        else:
            h = lam_t - lam_s
            if self.old_x0 is None:
                d = x0
            else:
                _, _, lam_prev = self._vp(self.sigmas[i - 1])
                r = (lam_s - lam_prev) / h
                d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * self.old_x0
            out = (s_t / s_s) * x_vp - a_t * np.expm1(-h) * d
            out = out / a_t
        self.old_x0 = x0
        return out, x0


class DpmSolver2MKarras(DpmSolver2M):
    def __init__(self, steps, cfg=SCHEDULER_CONFIG):
        super().__init__(steps, cfg, karras=True)


class Lcm:
    """Multistep consistency sampling: x0 under the boundary conditions, re-noised to the next t."""
    name = "lcm"
    stochastic = True
    sigma_data = 0.5

    def __init__(self, steps, cfg=SCHEDULER_CONFIG, original_steps=50, timestep_scaling=10.0):
        self.ac = alphas_cumprod(cfg)
        k = cfg["num_train_timesteps"] // original_steps
        origin = (np.arange(1, original_steps + 1) * k - 1)[::-1]
        picks = np.floor(np.linspace(0, original_steps, steps, endpoint=False)).astype(np.int64)
        self.timesteps = origin[picks]
        self.scaling = timestep_scaling
        self.init_noise_sigma = 1.0

    def scale(self, i):
        return 1.0

    def step(self, eps, i, x, noise=None):
        t = self.timesteps[i]
        a = self.ac[t]
        st = t * self.scaling
        c_skip = self.sigma_data ** 2 / (st ** 2 + self.sigma_data ** 2)
        c_out = st / (st ** 2 + self.sigma_data ** 2) ** 0.5
        x0 = c_skip * x + c_out * (x - (1 - a) ** 0.5 * eps) / a ** 0.5
        if i + 1 == len(self.timesteps):
            return x0, x0
        a_next = self.ac[self.timesteps[i + 1]]
        return a_next ** 0.5 * x0 + (1 - a_next) ** 0.5 * noise, x0


class Turbo:
    """One step from t = 999 gives x0; more steps re-noise x0 to the next trailing timestep."""
    name = "turbo"
    stochastic = True

    def __init__(self, steps, cfg=SCHEDULER_CONFIG):
        self.ac = alphas_cumprod(cfg)
        self.timesteps = timesteps(steps, {**cfg, "timestep_spacing": "trailing"})
        self.init_noise_sigma = 1.0

    def scale(self, i):
        return 1.0

    def step(self, eps, i, x, noise=None):
        a = self.ac[self.timesteps[i]]
        x0 = (x - (1 - a) ** 0.5 * eps) / a ** 0.5
        if i + 1 == len(self.timesteps):
            return x0, x0
        a_next = self.ac[self.timesteps[i + 1]]
        return a_next ** 0.5 * x0 + (1 - a_next) ** 0.5 * noise, x0


SAMPLERS = {"ddim": Ddim, "euler": Euler, "euler_a": EulerAncestral, "dpmpp_2m": DpmSolver2M,
            "dpmpp_2m_karras": DpmSolver2MKarras, "lcm": Lcm, "turbo": Turbo}


@torch.no_grad()
def sample(unet, cond, uncond, noise, steps, guidance, sampler="ddim", generator=None):
    """Latents from noise: `cond`/`uncond` are text encoder outputs, one row per picture;
    `generator` draws the noise that stochastic samplers add at each step."""
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
        x, _ = s.step(eps, i, x, torch.randn(x.shape, generator=generator, dtype=x.dtype) if s.stochastic else None)
    return x.float()


def golden(cfg=SCHEDULER_CONFIG, seed=1234):
    """Fixed cases for the runtime's scheduler tests: schedules and one step's inputs/outputs for
    DDIM and Euler; for the others a run of consecutive steps (DPM++ 2M's history, the noise that
    the stochastic ones add, which the case carries)."""
    rng = np.random.default_rng(seed)
    out = {"config": cfg}
    for name in ("ddim", "euler"):
        cls = SAMPLERS[name]
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
    rng = np.random.default_rng(seed + 1)
    for name in ("euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lcm", "turbo"):
        cls = SAMPLERS[name]
        cases = []
        # (steps, first step, how many): whole short runs, a middle stretch, the end of a run.
        for steps, start, count in [(1, 0, 1), (2, 0, 2), (4, 0, 4), (20, 6, 4), (20, 16, 4), (50, 0, 3)]:
            s = cls(steps, cfg)
            x = rng.standard_normal(16) * s.init_noise_sigma
            run = {"start": start, "sample": x.tolist(), "steps": []}
            if name.startswith("dpmpp") and start > 0:
                s.old_x0 = rng.standard_normal(16)
                run["previousDenoised"] = s.old_x0.tolist()
            for i in range(start, start + count):
                eps = rng.standard_normal(16)
                noise = rng.standard_normal(16) if s.stochastic else None
                scaled = x * s.scale(i)
                x, x0 = s.step(eps, i, x, noise)
                step = {"modelOutput": eps.tolist(), "scaledInput": scaled.tolist(),
                        "prevSample": x.tolist(), "denoised": x0.tolist()}
                if noise is not None:
                    step["noise"] = noise.tolist()
                run["steps"].append(step)
            case = {"steps": steps, "timesteps": np.asarray(s.timesteps, np.float64).tolist(),
                    "initNoiseSigma": s.init_noise_sigma, "run": run}
            if hasattr(s, "sigmas"):
                case["sigmas"] = s.sigmas.tolist()
            cases.append(case)
        out[name] = cases
    return out


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    if sys.argv[1:] != ["--golden"]:
        sys.exit("usage: python3 diffusion.py --golden   (rewrites ../golden/schedulers.json)")
    target = Path(__file__).resolve().parent.parent / "golden" / "schedulers.json"
    target.write_text(json.dumps(golden(), indent=1) + "\n")
    print(f"wrote {target}")
