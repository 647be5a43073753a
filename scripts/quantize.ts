/**
 * `npm run quantize -- <model folder | manifest.json | model.onnx> --to q8|q4 [--block 32] --out DIR [--force]`
 *
 * Writes a quantized copy of a model (scripts/quantize/model-folder.ts): q4 turns MatMul and Gemm
 * weights into 4-bit MatMulNBits, q8 into int8 DequantizeLinear; convolutions become int8
 * DequantizeLinear in both. Prints what it quantized and what it left float32, and why.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { QuantizeError } from './quantize/errors.ts';
import { DEFAULT_BLOCK_SIZE, REPORT_FILE, quantizeModel, type QuantizationReport } from './quantize/model-folder.ts';

const USAGE = `Usage:
  npm run quantize -- MODEL --to q8|q4 --out DIR [--block N] [--force]

  MODEL       a model folder (with manifest.json), a manifest.json, or one .onnx file
  --to        q4: MatMul/Gemm weights as 4-bit MatMulNBits, convolutions as int8
              q8: MatMul/Gemm and convolution weights as int8 DequantizeLinear
  --block N   q4 block length along K, a power of two >= 16 (default ${DEFAULT_BLOCK_SIZE})
  --out DIR   the folder to write (refused when it exists, unless --force)
  --force     replace DIR
Exit status: 0 written, 1 the model could not be quantized, 2 bad command line.`;

const CALLER_CWD = process.env.INIT_CWD ?? process.cwd();

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { to: { type: 'string' }, block: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return undefined;
  if (positionals.length !== 1) throw new QuantizeError('usage', `give exactly one model (folder, manifest.json or .onnx), got ${positionals.length}`);
  if (values.to !== 'q8' && values.to !== 'q4') throw new QuantizeError('usage', `--to must be q8 or q4, got ${values.to ?? 'nothing'}`);
  if (values.out === undefined) throw new QuantizeError('usage', '--out DIR is required');
  const block = values.block === undefined ? DEFAULT_BLOCK_SIZE : Number(values.block);
  if (!Number.isInteger(block) || block < 16 || (block & (block - 1)) !== 0)
    throw new QuantizeError('usage', `--block must be a power of two >= 16, got ${values.block}`);
  return { input: positionals[0]!, mode: values.to, blockSize: block, out: values.out, force: values.force ?? false } as const;
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;

function summarize(report: QuantizationReport, out: string): string {
  const lines: string[] = [];
  for (const [name, c] of Object.entries(report.components)) {
    const forms = new Map<string, number>();
    for (const q of c.quantized) forms.set(q.form, (forms.get(q.form) ?? 0) + 1);
    lines.push(
      `${name}: ${c.quantized.length} weights quantized (${[...forms].map(([form, n]) => `${n} ${form}`).join(', ') || 'none'}), ` +
        `weights ${mb(c.weightBytesBefore)} -> ${mb(c.weightBytesAfter)}, files ${c.files.map((f) => `${f.path} ${mb(f.size)}`).join(', ')}`,
    );
    const byReason = new Map<string, typeof c.left>();
    for (const left of c.left) byReason.set(left.reason, [...(byReason.get(left.reason) ?? []), left]);
    for (const [reason, list] of byReason) {
      const bytes = list.reduce((sum, left) => sum + left.bytes, 0);
      lines.push(`  left float32 (${mb(bytes)}), ${reason}: ${list.map((left) => `${left.name} [${left.shape.join(', ')}]`).join(', ')}`);
    }
    if (c.smallLeft.count > 0) lines.push(`  left float32: ${c.smallLeft.count} tensors under 1 KB (${mb(c.smallLeft.bytes)})`);
    for (const u of c.unsupported) lines.push(`  not quantized: ${u.op} ${u.node}: ${u.reason}`);
  }
  lines.push(`written to ${out} (report: ${REPORT_FILE})`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const out = path.resolve(CALLER_CWD, args.out);
  const report = await quantizeModel(path.resolve(CALLER_CWD, args.input), out, { mode: args.mode, blockSize: args.blockSize, force: args.force });
  process.stdout.write(`${summarize(report, out)}\n`);
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const code = (error as { code?: string }).code;
  const usage = code === 'usage' || code?.startsWith('ERR_PARSE_ARGS') === true;
  process.stderr.write(`error: ${usage ? 'USAGE' : (code ?? 'internal')}: ${(error as Error).message}${usage ? '\n(see --help)' : ''}\n`);
  if (!usage && code === undefined) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
  process.exitCode = usage ? 2 : 1;
}
