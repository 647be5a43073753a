import { WebDiffusionError, type ErrorDetails } from '../../src/errors.ts';

/**
 * Why the quantizer refused its input. Codes: 'not-onnx' (a component file that is not an ONNX
 * model), 'bad-external-data' (an initializer's external range cannot be read), 'bad-input' (no
 * model folder, manifest or .onnx file at the path), 'output-exists' (the output folder exists and
 * --force was not given), 'usage' (a bad command line).
 */
export class QuantizeError extends WebDiffusionError {
  override readonly name = 'QuantizeError';
  constructor(code: 'not-onnx' | 'bad-external-data' | 'bad-input' | 'output-exists' | 'usage', message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super(code, message, details, options);
  }
}
