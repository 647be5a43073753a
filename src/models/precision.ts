/**
 * How a model's weights and activations are stored. q8 and q4: int8 / 4-bit weights
 * (scripts/quantize.ts) with float32 activations; q4f16: 4-bit weights, float16 activations.
 */
export type Precision = 'fp32' | 'fp16' | 'q8' | 'q4' | 'q4f16';
export const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'q8', 'q4', 'q4f16'];

/** Whether a precision computes in float32 (weights float32, or dequantized to it), which ONNX Runtime's CPU kernels cover. */
export const computesInFloat32 = (precision: Precision): boolean => precision === 'fp32' || precision === 'q8' || precision === 'q4';
