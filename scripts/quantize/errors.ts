/**
 * Why the quantizer refused its input. Codes: 'not-onnx' (a component file that is not an ONNX
 * model), 'bad-external-data' (an initializer's external range cannot be read), 'bad-input' (no
 * model folder, manifest or .onnx file at the path), 'output-exists' (the output folder exists and
 * --force was not given), 'usage' (a bad command line). A command-line tool's error, not the
 * runtime's: its codes are not among the engine's `ErrorCode`s.
 */
export class QuantizeError extends Error {
  override readonly name = 'QuantizeError';
  readonly code: 'not-onnx' | 'bad-external-data' | 'bad-input' | 'output-exists' | 'usage';
  readonly details?: Readonly<Record<string, unknown>>;
  constructor(code: QuantizeError['code'], message: string, details?: Readonly<Record<string, unknown>>, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}
