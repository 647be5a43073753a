/**
 * A small ONNX model for the storage benchmark, written as protobuf by hand (no ONNX tooling in
 * Node): the weights are float32 rows of 1024, cut into initializers W0, W1, … of at most
 * `CHUNK_ROWS` rows (as a real model's weights are many tensors, each within a GPU's buffer
 * limit), and `Yk = Gather(Wk, idx)` for each. Gather reads one row, so creating a session costs
 * what loading the weights costs, and running it checks that they arrived.
 *
 * The weights are either inside the model (`raw_data`) or, as big models keep them, in an
 * external-data file the model names (`location`, `offset`, `length`), which is how the
 * benchmark loads its synthetic file through ONNX Runtime's `externalData` option.
 */
import { bytesField, concat, message, varintField } from '../scripts/lib/onnx-writer.ts';

/** Floats per row of the weights. */
export const ROW_FLOATS = 1024;
const ROW_BYTES = ROW_FLOATS * 4;
/** Rows per initializer: 256 MiB, within WebGPU's default-ish buffer limits. */
export const CHUNK_ROWS = 65_536;

export type Weights = { readonly inline: Uint8Array } | { readonly externalFile: string; readonly bytes: number };

/** The model's bytes: outputs Y0, Y1, …, one per `CHUNK_ROWS` rows of the weights. */
export function gatherModel(weights: Weights): Uint8Array {
  const size = 'inline' in weights ? weights.inline.byteLength : weights.bytes;
  if (size % ROW_BYTES !== 0) throw new Error(`the weights must be whole rows of ${ROW_FLOATS} floats, got ${size} bytes`);
  const FLOAT = 1;
  const INT64 = 7;
  const tensorType = (elemType: number, dims: number[]): Uint8Array =>
    message(1, [
      varintField(1, elemType),
      message(
        2,
        dims.map((dim) => message(1, [varintField(1, dim)])),
      ),
    ]);
  const chunks: { index: number; offset: number; rows: number }[] = [];
  for (let row = 0; row < size / ROW_BYTES; row += CHUNK_ROWS) {
    chunks.push({ index: chunks.length, offset: row * ROW_BYTES, rows: Math.min(CHUNK_ROWS, size / ROW_BYTES - row) });
  }
  const initializer = ({ index, offset, rows }: (typeof chunks)[number]): Uint8Array =>
    message(5, [
      varintField(1, rows),
      varintField(1, ROW_FLOATS),
      varintField(2, FLOAT),
      bytesField(8, `W${index}`),
      ...('inline' in weights
        ? [bytesField(9, weights.inline.subarray(offset, offset + rows * ROW_BYTES))]
        : [
            ...[
              ['location', weights.externalFile],
              ['offset', String(offset)],
              ['length', String(rows * ROW_BYTES)],
            ].map(([key, value]) => message(13, [bytesField(1, key!), bytesField(2, value!)])),
            varintField(14, 1), // data_location: EXTERNAL
          ]),
    ]);
  const graph = message(7, [
    ...chunks.map(({ index }) =>
      message(1, [bytesField(1, `W${index}`), bytesField(1, 'idx'), bytesField(2, `Y${index}`), bytesField(3, `gather${index}`), bytesField(4, 'Gather')]),
    ),
    bytesField(2, 'bench'),
    ...chunks.map(initializer),
    message(11, [bytesField(1, 'idx'), message(2, [tensorType(INT64, [1])])]),
    ...chunks.map(({ index }) => message(12, [bytesField(1, `Y${index}`), message(2, [tensorType(FLOAT, [1, ROW_FLOATS])])])),
  ]);
  return concat([varintField(1, 8), bytesField(2, 'webdiffusion-bench'), graph, message(8, [varintField(2, 17)])]);
}
