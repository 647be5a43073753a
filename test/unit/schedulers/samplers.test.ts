/**
 * Properties of the newer samplers that their papers state, checked directly (the numbers
 * themselves are pinned by golden-runs.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { DpmSolverMultistepScheduler, EulerAncestralScheduler, EulerScheduler, createScheduler } from '../../../src/schedulers/index.ts';
import { trainingSigmas } from '../../../src/schedulers/schedule.ts';
import { golden } from './golden.ts';

const config = golden.config;

describe('Euler ancestral', () => {
  it('goes down to sigma_down and adds back noise of sigma_up, so the total is sigma_next', () => {
    const scheduler = new EulerAncestralScheduler(config);
    scheduler.setTimesteps(10);
    for (let i = 0; i < 9; i++) {
      const c = scheduler.coefficients(i);
      const [sigma, sigmaNext] = [scheduler.sigmas[i]!, scheduler.sigmas[i + 1]!];
      const sigmaDown = c.prevFromOutput + sigma;
      expect(Math.hypot(sigmaDown, c.prevFromNoise)).toBeCloseTo(sigmaNext, 12);
      expect(c.prevFromNoise).toBeGreaterThan(0);
    }
  });
});

describe('DPM++ 2M', () => {
  it('takes an Euler step where it has no history (the first step) or no finite log-SNR gap (the last)', () => {
    const dpm = new DpmSolverMultistepScheduler(config);
    const euler = new EulerScheduler(config);
    dpm.setTimesteps(8);
    euler.setTimesteps(8);
    for (const i of [0, 7]) expect(dpm.coefficients(i)).toEqual(euler.coefficients(i));
    expect(dpm.coefficients(3).prevFromPreviousDenoised).not.toBe(0);
  });

  // Gaussian data x0 ~ N(0, s^2) has an exact denoiser, D(x, sigma) = x s^2 / (s^2 + sigma^2), and
  // an exact probability-flow path, x(sigma) = x(sigma_max) sqrt((s^2 + sigma^2) / (s^2 + sigma_max^2)).
  // A second-order solver must follow it far closer than a first-order Euler step on the same
  // sigmas. (Compared before the last step, which is first order for both: to sigma = 0.)
  it.each(['dpmpp_2m', 'dpmpp_2m_karras'] as const)('%s follows the flow of Gaussian data several times closer than Euler in 8 steps', (name) => {
    const s2 = 0.25;
    const scheduler = createScheduler(name, config) as DpmSolverMultistepScheduler;
    scheduler.setTimesteps(8);
    const sigmas = scheduler.sigmas;
    const epsOf = (x: number, sigma: number) => (x - (x * s2) / (s2 + sigma * sigma)) / sigma;
    let x: Float32Array = Float32Array.of(scheduler.initNoiseSigma);
    let euler = scheduler.initNoiseSigma;
    let previousDenoised: Float32Array | undefined;
    for (let i = 0; i < 7; i++) {
      const result = scheduler.step(Float32Array.of(epsOf(x[0]!, sigmas[i]!)), i, x, { previousDenoised });
      [x, previousDenoised] = [result.prevSample, result.denoised];
      euler += (sigmas[i + 1]! - sigmas[i]!) * epsOf(euler, sigmas[i]!);
    }
    const exact = scheduler.initNoiseSigma * Math.sqrt((s2 + sigmas[7]! ** 2) / (s2 + sigmas[0]! ** 2));
    const [dpmError, eulerError] = [Math.abs(x[0]! - exact) / exact, Math.abs(euler - exact) / exact];
    console.info(`${name}: relative error ${dpmError.toExponential(2)} vs Euler ${eulerError.toExponential(2)}`);
    // Measured: 5.3x (trailing) and 3.3x (Karras) smaller.
    expect(dpmError).toBeLessThan(eulerError / 2.5);
  });
});

describe('DPM++ 2M Karras', () => {
  it('spans the training sigmas, denser near the low-noise end, at fractional timesteps', () => {
    const scheduler = createScheduler('dpmpp_2m_karras', config) as DpmSolverMultistepScheduler;
    scheduler.setTimesteps(10);
    const train = trainingSigmas(config);
    expect(scheduler.sigmas[0]).toBeCloseTo(train[999]!, 10);
    expect(scheduler.sigmas[9]).toBeCloseTo(train[0]!, 10);
    expect(scheduler.sigmas[10]).toBe(0);
    // rho = 7: sigma^(1/7) evenly spaced.
    const roots = scheduler.sigmas.slice(0, 10).map((s) => s ** (1 / 7));
    for (let i = 1; i < 9; i++) expect(roots[i + 1]! - roots[i]!).toBeCloseTo(roots[1]! - roots[0]!, 10);
    expect(scheduler.timesteps.some((t) => !Number.isInteger(t))).toBe(true);
  });
});

describe('LCM', () => {
  it('picks its timesteps from the 50-step distillation schedule, from the top', () => {
    const scheduler = createScheduler('lcm', config);
    scheduler.setTimesteps(4);
    expect(scheduler.timesteps).toEqual([999, 759, 499, 259]);
    scheduler.setTimesteps(1);
    expect(scheduler.timesteps).toEqual([999]);
  });

  it('refuses more steps than the distillation schedule has', () => {
    const scheduler = createScheduler('lcm', config);
    expect(() => scheduler.setTimesteps(51)).toThrow(RangeError);
    expect(() => createScheduler('lcm', { ...config, original_inference_steps: 100 }).setTimesteps(60)).not.toThrow();
  });

  it('re-noises the boundary-conditioned x0 to the next timestep, and returns it at the end', () => {
    const scheduler = createScheduler('lcm', config);
    scheduler.setTimesteps(4);
    const c = scheduler.coefficients(0);
    const next = Math.sqrt(1 - c.prevFromNoise ** 2);
    expect(c.prevFromSample).toBeCloseTo(next * c.denoisedFromSample, 12);
    const last = scheduler.coefficients(3);
    expect(last.prevFromNoise).toBe(0);
    expect([last.prevFromSample, last.prevFromOutput]).toEqual([last.denoisedFromSample, last.denoisedFromOutput]);
  });
});

describe('Turbo', () => {
  it('runs one step from t = 999 straight to the x0 estimate, whatever the config spacing', () => {
    const scheduler = createScheduler('turbo', { ...config, timestep_spacing: 'leading' });
    scheduler.setTimesteps(1);
    expect(scheduler.timesteps).toEqual([999]);
    const x = Float32Array.from([2, -1, 0.5]);
    const eps = Float32Array.from([0.3, 0.1, -0.2]);
    const { prevSample, denoised } = scheduler.step(eps, 0, x);
    expect(Array.from(prevSample)).toEqual(Array.from(denoised));
    const c = scheduler.coefficients(0);
    expect(c.denoisedFromOutput / c.denoisedFromSample).toBeCloseTo(-Math.sqrt(1 - 1 / c.denoisedFromSample ** 2), 12);
  });

  it('re-noises to the next trailing timestep when it has more steps', () => {
    const scheduler = createScheduler('turbo', config);
    scheduler.setTimesteps(4);
    expect(scheduler.timesteps).toEqual([999, 749, 499, 249]);
    expect(scheduler.coefficients(0).prevFromNoise).toBeGreaterThan(0.5);
  });
});
