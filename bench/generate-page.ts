/** The generation benchmark's page: starts bench/generate-worker.ts and hands it to Node (bench/generate.ts). */
import * as Comlink from 'comlink';
import type { GenerateBenchApi } from './generate-worker.ts';

declare global {
  interface Window {
    generateBench?: Comlink.Remote<GenerateBenchApi>;
  }
}

window.generateBench = Comlink.wrap<GenerateBenchApi>(new Worker(new URL('./generate-worker.ts', import.meta.url), { type: 'module' }));
