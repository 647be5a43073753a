/**
 * Creates one WebGPU session from a served .onnx and its external data, given to ONNX Runtime
 * as Blobs (as the weight store gives them), with ONNX Runtime's log on: the test reads where
 * each weight was placed from the console (weight-placement.test.ts).
 */
import { requestGpuDevice } from '../../src/gpu/device.ts';
import { OrtSession, preferredRuntime, type OrtRuntime } from '../../src/ort/ort.ts';

export interface PlacementPage {
  readonly preferredRuntime: OrtRuntime;
  /** `model` and each of `externalData` are URLs; the external data's names are their file names. */
  createSession(model: string, externalData: readonly string[], runtime: OrtRuntime): Promise<{ runtime: OrtRuntime; externalDataBytes: number }>;
}

declare global {
  interface Window {
    placementPage?: PlacementPage;
  }
}

const blob = async (url: string): Promise<Blob> => {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.blob();
};

window.placementPage = {
  preferredRuntime: preferredRuntime(),
  async createSession(model, externalData, runtime) {
    const device = await requestGpuDevice();
    const files = await Promise.all(externalData.map(async (url) => ({ path: url.split('/').at(-1)!, data: await blob(url) })));
    const session = await OrtSession.create(await blob(model), { backend: 'webgpu', device, externalData: files, runtime, logSeverity: 'verbose' });
    await session.release();
    return { runtime: session.runtime, externalDataBytes: files.reduce((sum, { data }) => sum + data.size, 0) };
  },
};
