/**
 * Where ONNX Runtime's JSPI build runs the quantized tiny-shapes UNet on WebGPU: no node that
 * reads a weight (an initializer stored as external data) is placed on the CPU provider, whose
 * weights would stay in the wasm heap. ONNX Runtime's verbose log lists each provider's nodes
 * ("Node(s) placed on [CPUExecutionProvider] …"); a QLinearConv, a MatMulInteger or a
 * DequantizeLinear without a WebGPU kernel would be there. (Its "[Memory] SessionStateInitializer
 * statically allocates …" line is never printed here: web sessions run with enable_mem_pattern 0.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeModel, onnx } from '../../scripts/quantize/onnx-file.ts';
import { useBrowserPage } from '../support/browser.ts';

const UNET = 'models/tiny-shapes-q4/unet/model.onnx';

const browser = useBrowserPage('/test/pages/weight-placement.html', {
  ready: (page) => page.waitForFunction(() => window.placementPage !== undefined),
});

/**
 * Ops ONNX Runtime's optimizers add on the CPU for shape arithmetic (its "Gather_token_N" nodes
 * over Shape outputs): they read shapes, never a weight of the file.
 */
const SHAPE_OPS = new Set(['Shape', 'Gather', 'Slice', 'Unsqueeze', 'Squeeze', 'Concat', 'Reshape', 'Cast']);

/** Nodes per execution provider, from the verbose log's "Node placements" block. */
function placements(lines: readonly string[]): Map<string, { op: string; name: string }[]> {
  const placed = new Map<string, { op: string; name: string }[]>();
  let provider: { op: string; name: string }[] | undefined;
  for (const line of lines) {
    const header = /Node\(s\) placed on \[(\w+)\]/.exec(line);
    if (header !== null) placed.set(header[1]!, (provider = []));
    const node = /VerifyEachNodeIsAssignedToAnEp\]\s+(\w+) \((.+)\)\s*$/.exec(line);
    if (node !== null && provider !== undefined) provider.push({ op: node[1]!, name: node[2]! });
  }
  return placed;
}

describe('weight placement (JSPI build, WebGPU)', () => {
  it('runs on the JSPI build where Chromium has JSPI', async () => {
    expect(await browser.page.evaluate(() => window.placementPage!.preferredRuntime)).toBe('jspi');
  });

  it('places no node that reads a weight of the q4 UNet on the CPU', async () => {
    const graph = decodeModel(readFileSync(UNET), UNET).graph!;
    const weights = new Set(graph.initializer!.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL).map((t) => t.name!));
    const readsWeight = new Map(graph.node!.map((n) => [n.name!, n.input!.some((input) => weights.has(input))]));

    const from = browser.consoleLines.length;
    const created = await browser.page.evaluate(([model]) => window.placementPage!.createSession(`/${model}`, [`/${model}_data`], 'jspi'), [UNET] as const);
    expect(created.runtime).toBe('jspi');
    const placed = placements(browser.consoleLines.slice(from));
    const onCpu = placed.get('CPUExecutionProvider') ?? [];
    const onGpu = placed.get('WebGpuExecutionProvider') ?? [];
    console.log(`${onGpu.length} nodes on WebGPU, ${onCpu.length} on the CPU; ${weights.size} weights in ${created.externalDataBytes} bytes of external data`);
    expect(onGpu.filter(({ name }) => readsWeight.get(name) === true).length).toBeGreaterThan(0);
    expect(onCpu.filter(({ name }) => readsWeight.get(name) === true)).toEqual([]);
    // A CPU node the file does not have was made by an optimizer: only shape arithmetic may be.
    expect(onCpu.filter(({ op, name }) => !readsWeight.has(name) && !SHAPE_OPS.has(op))).toEqual([]);
  });
});
