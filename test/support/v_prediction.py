"""Golden numbers for v-prediction models (SD 2.x 768, v = alpha * eps - sigma * x0), each sampler
written the way diffusers writes its v_prediction branch (DDIM and Turbo: x0 = alpha x - sigma v,
eps = alpha v + sigma x; Euler: x0 = -sigma/sqrt(sigma^2 + 1) v + x/(sigma^2 + 1); DPM++ 2M on
the VP process: x0 = alpha x_vp - sigma_vp v). Numpy only; independent of the runtime's
coefficient algebra (src/schedulers/model-output.ts).

    python3 test/support/v_prediction.py     rewrites test/unit/schedulers/fixtures/v-prediction.json
"""
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {**json.loads((ROOT / "models/tiny-shapes/golden/schedulers.json").read_text())["config"], "prediction_type": "v_prediction"}


def alphas_cumprod():
    n = CONFIG["num_train_timesteps"]
    betas = np.linspace(CONFIG["beta_start"] ** 0.5, CONFIG["beta_end"] ** 0.5, n, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def trailing(steps):
    n = CONFIG["num_train_timesteps"]
    return (np.round(np.arange(n, 0, -n / steps)) - 1).astype(np.int64)


AC = alphas_cumprod()


class Ddim:
    stochastic = False

    def __init__(self, steps):
        self.t = trailing(steps)
        self.init = 1.0

    def scale(self, i):
        return 1.0

    def step(self, v, i, x, noise, history):
        a = AC[self.t[i]]
        a_prev = AC[self.t[i + 1]] if i + 1 < len(self.t) else AC[0]
        x0 = a ** 0.5 * x - (1 - a) ** 0.5 * v
        eps = a ** 0.5 * v + (1 - a) ** 0.5 * x
        return a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps, x0


class Euler:
    stochastic = False

    def __init__(self, steps):
        self.t = trailing(steps)
        self.sigmas = np.append(((1 - AC[self.t]) / AC[self.t]) ** 0.5, 0.0)
        self.init = float((self.sigmas[0] ** 2 + 1) ** 0.5)

    def scale(self, i):
        return 1.0 / (self.sigmas[i] ** 2 + 1) ** 0.5

    def x0(self, v, i, x):
        s = self.sigmas[i]
        return v * (-s / (s ** 2 + 1) ** 0.5) + x / (s ** 2 + 1)

    def step(self, v, i, x, noise, history):
        s, nxt = self.sigmas[i], self.sigmas[i + 1]
        x0 = self.x0(v, i, x)
        return x + (x - x0) / s * (nxt - s), x0


class EulerAncestral(Euler):
    stochastic = True

    def step(self, v, i, x, noise, history):
        s, nxt = self.sigmas[i], self.sigmas[i + 1]
        up = min(nxt, (nxt ** 2 * (s ** 2 - nxt ** 2) / s ** 2) ** 0.5)
        down = (nxt ** 2 - up ** 2) ** 0.5
        x0 = self.x0(v, i, x)
        return x + (x - x0) / s * (down - s) + noise * up, x0


class DpmSolver2M(Euler):
    def step(self, v, i, x, noise, history):
        def vp(sigma):
            alpha = 1.0 / (1.0 + sigma ** 2) ** 0.5
            return alpha, sigma * alpha, (np.log(1.0 / sigma) if sigma > 0 else np.inf)

        a_s, s_s, lam_s = vp(self.sigmas[i])
        a_t, s_t, lam_t = vp(self.sigmas[i + 1])
        x_vp = x * a_s
        x0 = a_s * x_vp - s_s * v
        if self.sigmas[i + 1] == 0:
            return x0, x0
        h = lam_t - lam_s
        if history is None:
            d = x0
        else:
            _, _, lam_prev = vp(self.sigmas[i - 1])
            r = (lam_s - lam_prev) / h
            d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * history
        return ((s_t / s_s) * x_vp - a_t * np.expm1(-h) * d) / a_t, x0


class Turbo(Ddim):
    stochastic = True

    def step(self, v, i, x, noise, history):
        a = AC[self.t[i]]
        x0 = a ** 0.5 * x - (1 - a) ** 0.5 * v
        if i + 1 == len(self.t):
            return x0, x0
        a_next = AC[self.t[i + 1]]
        return a_next ** 0.5 * x0 + (1 - a_next) ** 0.5 * noise, x0


SAMPLERS = {"ddim": Ddim, "euler": Euler, "euler_a": EulerAncestral, "dpmpp_2m": DpmSolver2M, "turbo": Turbo}


def main():
    rng = np.random.default_rng(768)
    out = {"config": CONFIG}
    for name, cls in SAMPLERS.items():
        cases = []
        for steps, start, count in [(1, 0, 1), (4, 0, 4), (20, 6, 4), (20, 16, 4)]:
            s = cls(steps)
            x = rng.standard_normal(16) * s.init
            run = {"start": start, "sample": x.tolist(), "steps": []}
            history = None
            if name == "dpmpp_2m" and start > 0:
                history = rng.standard_normal(16)
                run["previousDenoised"] = history.tolist()
            for i in range(start, start + count):
                v = rng.standard_normal(16)
                noise = rng.standard_normal(16) if s.stochastic else None
                scaled = x * s.scale(i)
                x, x0 = s.step(v, i, x, noise, history)
                history = x0
                step = {"modelOutput": v.tolist(), "scaledInput": scaled.tolist(), "prevSample": x.tolist(), "denoised": x0.tolist()}
                if noise is not None:
                    step["noise"] = noise.tolist()
                run["steps"].append(step)
            cases.append({"steps": steps, "timesteps": s.t.astype(np.float64).tolist(), "initNoiseSigma": s.init, "run": run})
        out[name] = cases
    target = ROOT / "test/unit/schedulers/fixtures/v-prediction.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
