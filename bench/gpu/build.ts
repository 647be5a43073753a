/**
 * `npm run bench:gpu-build`: the bundle the GPU machine runs (bench/gpu/README.md), into
 * bench/gpu/bundle/ (ignored), in two folders, one carried by each of the run's two calls (the
 * working tree and what a call carries must stay under 64 MiB together, and Node alone is 20 MiB):
 *   stage0/node.xz.0, stage1/node.xz.1  this machine's Node binary, stripped and compressed, in two
 *                         halves (the tracked tree leaves too little room for all of it in one call;
 *                         stage 0 puts the first half on the machine, stage 1 joins and unpacks it)
 *   stage2/libs.tar.xz    the Vulkan loader (Debian's libvulkan1) and what NVIDIA's Vulkan driver
 *                         links against where the image lacks it (libglvnd0's libGLdispatch, libX11,
 *                         libXext and theirs); run.sh puts on LD_LIBRARY_PATH only the ones missing there
 *   stage2/dawn.node.xz   Dawn for Node, from the npm `webgpu` package (fetched with `npm pack`)
 *   stage2/ort-wasm-simd-threaded.asyncify.{mjs,wasm.xz}  onnxruntime-web's asyncify WebGPU build
 *                         (in Node, ONNX Runtime imports its wasm's glue from the file beside the bundle)
 *   stage2/engine-bench.mjs  our engine (src/pipeline, schedulers, tokenizer, kernels) and the bench
 *   stage2/report.mjs     the report
 *   stage2/quantize.mjs   our quantizer (scripts/quantize.ts), for the q4 stand-in
 * Prints each file's size and each folder's total.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { REPO_ROOT } from '../../scripts/lib/browser.ts';

const BUNDLE = join(REPO_ROOT, 'bench/gpu/bundle');
/** Downloads and compressed files, kept between builds (outside the repository: nothing in it to lint or carry). */
const CACHE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'webdiffusion-gpu-bench');
const WEBGPU_VERSION = '0.6.2';
const ORT_WASM = 'ort-wasm-simd-threaded.asyncify.wasm';
/** Debian packages whose libraries travel (run.sh uses each only where the machine lacks it). */
const LIBRARY_PACKAGES = ['libvulkan1', 'libglvnd0', 'libx11-6', 'libxext6', 'libxcb1', 'libxau6', 'libxdmcp6', 'libbsd0', 'libmd0'];

/** Vite's `?raw` imports (our WGSL kernels) as strings. */
const raw: Plugin = {
  name: 'raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({ path: join(args.resolveDir, args.path.slice(0, -'?raw'.length)), namespace: 'raw' }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, (args) => ({ contents: readFileSync(args.path, 'utf8'), loader: 'text' }));
  },
};

/** xz at its strongest; `binary` adds the x86 branch filter, which shrinks machine code ~4% more. */
function xz(source: string, target: string, binary: boolean): void {
  const filters = binary ? '--x86 --lzma2=preset=9e,dict=128MiB,nice=273' : '-9e';
  execFileSync('sh', ['-c', `xz ${filters} -T1 -c "${source}" > "${target}"`]);
}

/** Dawn for Node: the `webgpu` package's linux-x64 build, from the registry's tarball. */
function dawnNode(): string {
  const unpacked = join(CACHE, `webgpu-${WEBGPU_VERSION}`);
  const file = join(unpacked, 'package/dist/linux-x64/dawn.node');
  if (!existsSync(file)) {
    mkdirSync(unpacked, { recursive: true });
    execFileSync('npm', ['pack', `webgpu@${WEBGPU_VERSION}`, '--silent', '--pack-destination', unpacked], { stdio: 'inherit' });
    execFileSync('tar', ['xzf', join(unpacked, `webgpu-${WEBGPU_VERSION}.tgz`), '-C', unpacked]);
  }
  return file;
}

/** The libraries of LIBRARY_PACKAGES, downloaded with apt and unpacked, as one folder of .so files. */
function libraries(): string {
  const unpacked = join(CACHE, 'debs');
  const folder = join(CACHE, 'libs');
  if (!existsSync(folder)) {
    mkdirSync(unpacked, { recursive: true });
    execFileSync('apt-get', ['download', ...LIBRARY_PACKAGES], { cwd: unpacked, stdio: 'inherit' });
    for (const deb of readdirSync(unpacked).filter((name) => name.endsWith('.deb'))) execFileSync('dpkg-deb', ['-x', join(unpacked, deb), unpacked]);
    mkdirSync(folder);
    execFileSync('sh', ['-c', `cp -a "${unpacked}"/usr/lib/x86_64-linux-gnu/*.so.* "${folder}/"`]);
  }
  return folder;
}

/** The Node binary without its symbols (86 MB instead of 99). */
function strippedNode(): string {
  const target = join(CACHE, 'node');
  if (!existsSync(target) || statSync(target).mtimeMs < statSync(process.execPath).mtimeMs) execFileSync('strip', ['-o', target, process.execPath]);
  return target;
}

/** Compressed once per input: xz -9e of 100 MB takes a minute on two cores. */
function xzCached(source: string, name: string, folder: string, binary = false): void {
  const target = join(BUNDLE, folder, `${name}.xz`);
  const stamp = `${source} ${statSync(source).size} ${statSync(source).mtimeMs} ${binary}`;
  const stampFile = join(CACHE, `${name}.stamp`);
  const cached = join(CACHE, `${name}.xz`);
  if (!existsSync(cached) || !existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== stamp) {
    xz(source, cached, binary);
    writeFileSync(stampFile, stamp);
  }
  mkdirSync(join(target, '..'), { recursive: true });
  copyFileSync(cached, target);
}

rmSync(BUNDLE, { recursive: true, force: true });
mkdirSync(CACHE, { recursive: true });
for (const [folder, entries] of [
  [
    'stage2',
    {
      'engine-bench': join(REPO_ROOT, 'bench/gpu/engine-bench.ts'),
      report: join(REPO_ROOT, 'bench/gpu/report.ts'),
      quantize: join(REPO_ROOT, 'scripts/quantize.ts'),
    },
  ],
] as const) {
  await build({
    entryPoints: entries,
    outdir: join(BUNDLE, folder),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [raw],
    // Packages bundled for Node that still call require() (onnx-proto's protobufjs).
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}
xzCached(strippedNode(), 'node', 'stage1', true);
// In two halves, one per call: with the models tracked, the tree leaves ~15 MiB a call.
{
  const whole = readFileSync(join(BUNDLE, 'stage1/node.xz'));
  const half = Math.ceil(whole.length / 2);
  mkdirSync(join(BUNDLE, 'stage0'), { recursive: true });
  writeFileSync(join(BUNDLE, 'stage0/node.xz.0'), whole.subarray(0, half));
  writeFileSync(join(BUNDLE, 'stage1/node.xz.1'), whole.subarray(half));
  rmSync(join(BUNDLE, 'stage1/node.xz'));
}
const libs = libraries();
execFileSync('sh', ['-c', `tar -C "${libs}" -cf - . | xz -9e -T1 > "${join(BUNDLE, 'stage2/libs.tar.xz')}"`]);
xzCached(dawnNode(), 'dawn.node', 'stage2', true);
const ortDist = join(REPO_ROOT, 'node_modules/onnxruntime-web/dist');
xzCached(join(ortDist, ORT_WASM), ORT_WASM, 'stage2');
copyFileSync(join(ortDist, ORT_WASM.replace(/\.wasm$/, '.mjs')), join(BUNDLE, 'stage2', ORT_WASM.replace(/\.wasm$/, '.mjs')));
writeFileSync(
  join(BUNDLE, 'versions.json'),
  JSON.stringify({ node: process.version, webgpu: WEBGPU_VERSION, ortWasm: ORT_WASM, libraries: LIBRARY_PACKAGES }, null, 2) + '\n',
);

for (const folder of ['stage0', 'stage1', 'stage2']) {
  let total = 0;
  for (const name of readdirSync(join(BUNDLE, folder)).sort()) {
    const size = statSync(join(BUNDLE, folder, name)).size;
    total += size;
    console.log(`${(size / 2 ** 20).toFixed(2).padStart(6)} MiB  ${folder}/${name}`);
  }
  console.log(`${(total / 2 ** 20).toFixed(2).padStart(6)} MiB  bench/gpu/bundle/${folder}/ in all`);
}
