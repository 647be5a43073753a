#!/usr/bin/env bash
# The GPU bench on the GPU machine (bench/gpu/README.md): our engine on Dawn for Node with the
# machine's Vulkan driver, the same UNet in PyTorch, and the tiny-shapes pictures judged.
#
#   bash bench/gpu/run.sh stage0|stage1|stage2|all [--small]
#
# stage0  (carry bench/gpu/bundle/stage0): keeps the first half of Node's archive in the work folder.
#
# stage1  (carry bench/gpu/bundle/stage1): unpacks Node; builds the full-size stand-ins with
#         PyTorch (fp32, fp16) and times them in PyTorch (the native reference); tiny-shapes in
#         fp16 where onnxruntime's converter is there.
# stage2  (carry bench/gpu/bundle/stage2): unpacks Dawn, onnxruntime-web and the Vulkan loader;
#         quantizes the q4 stand-in (our quantizer) while the engine runs: adapter, tiny-shapes
#         judged (fp32, q4, fp16), the stand-ins fp16, q4, fp32; writes the report. Needs stage1's
#         files: the two calls back to back, on the same (still warm) machine.
# all     both, in one call (carry both folders), where the working tree leaves room for them.
# --small the small stand-ins (a 64x64 picture) and fewer prompts and steps, for a run on a CPU
#         with SwiftShader (npm run bench:gpu-local).
#
# Everything lands in bench/gpu/work/ (ignored; a warm machine keeps it between calls); the
# figures in $OUT: gpu-bench.json, gpu-bench.md, and each stage's log. Every part has a time
# limit and reports its own failure; the parts after it still run.
set -u
export PYTHONUNBUFFERED=1
STAGE=${1:-all}
SIZE=full
[ "${2:-}" = "--small" ] && SIZE=small
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUNDLE=$ROOT/bench/gpu/bundle
WORK=$ROOT/bench/gpu/work
OUT=${OUT:-$WORK/out}
PYTHON=${PYTHON:-python3}
# Time limits of the parts that take long, in seconds (the small run on a CPU takes longer).
BUILD_LIMIT=180 TINY_LIMIT=90 FULL_LIMIT=80
[ "$SIZE" = small ] && BUILD_LIMIT=300 TINY_LIMIT=900 FULL_LIMIT=600
mkdir -p "$WORK/bin" "$WORK/parts" "$WORK/models" "$OUT"
LOG=$OUT/$STAGE.log
# ONNX Runtime's notice that shape ops run on the CPU comes with every session: left out.
exec > >(grep --line-buffered -v VerifyEachNodeIsAssignedToAnEp | tee -a "$LOG") 2>&1
started=$(date +%s)
say() { echo "[$(($(date +%s) - started))s] $*"; }

# Runs one part: `part NAME SECONDS command…`; its exit status and duration go to parts/NAME.status.
part() {
  local name=$1 limit=$2 t0
  shift 2
  t0=$(date +%s)
  say "part $name (limit ${limit}s): $*"
  timeout -k 10 "$limit" "$@"
  local rc=$?
  echo "{\"rc\": $rc, \"seconds\": $(($(date +%s) - t0)), \"limit\": $limit, \"timedOut\": $([ $rc = 124 ] || [ $rc = 137 ] && echo true || echo false)}" >"$WORK/parts/$name.status"
  say "part $name: exit $rc after $(($(date +%s) - t0))s"
  return 0
}

# GPU memory in use, sampled every 200 ms while an engine part runs (nvidia-smi, where present).
memory_start() {
  command -v nvidia-smi >/dev/null || return 0
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$WORK/parts/$1.mem" 2>/dev/null &
  MEMORY_PID=$!
}
memory_stop() {
  [ -n "${MEMORY_PID:-}" ] && kill "$MEMORY_PID" 2>/dev/null && wait "$MEMORY_PID" 2>/dev/null
  MEMORY_PID=
}

unpack() { # unpack FILE.xz TARGET
  [ -f "$1" ] || { say "missing $1: was its folder carried?"; return 1; }
  xz -dc "$1" >"$2" && say "unpacked $(basename "$2") ($(du -h "$2" | cut -f1))"
}

stage0() {
  mkdir -p "$WORK"
  [ -f "$BUNDLE/stage0/node.xz.0" ] || { say "missing $BUNDLE/stage0/node.xz.0: was bench/gpu/bundle/stage0 carried?"; return 1; }
  cp "$BUNDLE/stage0/node.xz.0" "$WORK/node.xz.0" && say "kept the first half of Node for stage1"
}

stage1() {
  [ -f "$WORK/node.xz.0" ] || { say "no first half of Node in $WORK: run stage0 just before stage1 (the machine went back between the calls?)"; return 1; }
  [ -f "$BUNDLE/stage1/node.xz.1" ] || { say "missing $BUNDLE/stage1/node.xz.1: was bench/gpu/bundle/stage1 carried?"; return 1; }
  mkdir -p "$WORK/bin"
  cat "$WORK/node.xz.0" "$BUNDLE/stage1/node.xz.1" | xz -dc >"$WORK/bin/node" && chmod +x "$WORK/bin/node" && "$WORK/bin/node" --version
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'

  # Tiny-shapes in float16, for the engine's fp16 path (onnxruntime's converter, where installed).
  part tiny-fp16-build 40 "$PYTHON" "$ROOT/bench/gpu/tiny_fp16.py" "$ROOT/models/tiny-shapes" "$WORK/models/tiny-shapes-fp16"

  # The stand-ins (fp32, fp16) and the PyTorch reference on them.
  local small=()
  [ "$SIZE" = small ] && small=(--small)
  rm -rf "$WORK/models/fp32" "$WORK/models/fp16" "$WORK/models/q4"
  # Two processes: the reference and the fp16 export on the GPU; the fp32 export traced on the CPU.
  part stand-ins-fp32 "$BUILD_LIMIT" env OMP_NUM_THREADS=${OMP_NUM_THREADS:-8} "$PYTHON" "$ROOT/bench/gpu/stand_ins.py" "$WORK/models" "${small[@]}" \
    --variants fp32 --export-device cpu --report "$WORK/parts/export-fp32.json" >"$WORK/stand-ins-fp32.log" 2>&1 &
  local fp32=$!
  part stand-ins "$BUILD_LIMIT" "$PYTHON" "$ROOT/bench/gpu/stand_ins.py" "$WORK/models" "${small[@]}" --variants fp16 --reference --report "$WORK/parts/reference.json"
  wait "$fp32"
  grep -v Warning "$WORK/stand-ins-fp32.log" | grep -v '^ ' | tail -5
  du -sh "$WORK/models"/* 2>/dev/null
  cp "$WORK/parts/reference.json" "$OUT/" 2>/dev/null
  return 0
}

# The carried libraries that this machine lacks, on LD_LIBRARY_PATH (its own ones win).
libraries() {
  mkdir -p "$WORK/libs-carried" "$WORK/lib"
  tar -xJf "$BUNDLE/stage2/libs.tar.xz" -C "$WORK/libs-carried" || return 1
  local lib name
  for lib in "$WORK/libs-carried"/*.so.*; do
    name=$(basename "$lib")
    # By soname (libX11.so.6), the name programs ask for and ldconfig lists.
    [[ $name =~ \.so\.[0-9]+$ ]] || continue
    if ! ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$name "; then
      cp -L "$lib" "$WORK/lib/$name"
    fi
  done
  say "carried libraries used: $(ls "$WORK/lib" | tr '\n' ' ')"
  export LD_LIBRARY_PATH=$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
}

stage2() {
  local carried=$BUNDLE/stage2 node=$WORK/bin/node engine=$WORK/engine
  if [ ! -x "$node" ]; then
    say "no Node in $WORK/bin: stage1 did not run on this machine (it went back between the calls?): run stage1, then stage2 at once"
    return 1
  fi
  mkdir -p "$engine"
  unpack "$carried/dawn.node.xz" "$engine/dawn.node"
  unpack "$carried/ort-wasm-simd-threaded.asyncify.wasm.xz" "$engine/ort-wasm-simd-threaded.asyncify.wasm"
  cp "$carried"/*.mjs "$engine/"
  libraries
  # The NVIDIA driver's Vulkan ICD, where the loader's default paths do not have it.
  if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
    local icd
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
      [ -f "$icd" ] && export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd && say "Vulkan driver: $icd" && break
    done
  fi

  # q4 through our quantizer, on the CPU beside the first engine parts.
  local quantizer=
  if [ -f "$WORK/models/fp32/manifest.json" ]; then
    part quantize-q4 240 "$node" "$engine/quantize.mjs" "$WORK/models/fp32" --to q4 --out "$WORK/models/q4" --force >"$WORK/quantize.log" 2>&1 &
    quantizer=$!
  fi

  local bench=("$node" "$engine/engine-bench.mjs")
  local dawn=(--dawn "$engine/dawn.node")
  part adapter 30 "${bench[@]}" adapter "${dawn[@]}" --out "$WORK/parts/adapter.json"
  cat "$WORK/parts/adapter.json"

  local tiny=(--model "$ROOT/models/tiny-shapes" --model "$ROOT/models/tiny-shapes-q4")
  [ -f "$WORK/models/tiny-shapes-fp16/manifest.json" ] && tiny+=(--model "$WORK/models/tiny-shapes-fp16")
  [ "$SIZE" = small ] && tiny+=(--prompts 2)
  memory_start tiny
  part tiny "$TINY_LIMIT" "${bench[@]}" tiny "${dawn[@]}" "${tiny[@]}" --out "$WORK/parts/tiny.json"
  memory_stop

  local steps=8 repeats=3
  [ "$SIZE" = small ] && steps=2 repeats=1
  local variant
  # fp16 first (SD-Turbo's own precision), fp32 (the biggest) last.
  for variant in fp16 q4 fp32; do
    if [ "$variant" = q4 ] && [ -n "$quantizer" ]; then
      wait "$quantizer"
      tail -3 "$WORK/quantize.log"
    fi
    if [ ! -f "$WORK/models/$variant/manifest.json" ]; then
      say "no $variant stand-in (see the logs)"
      continue
    fi
    memory_start "full-$variant"
    part "full-$variant" "$FULL_LIMIT" "${bench[@]}" full "${dawn[@]}" --model "$WORK/models/$variant" --steps $steps --repeats $repeats --out "$WORK/parts/full-$variant.json"
    memory_stop
  done
  # Dawn without robustness (bounds checks off, as MLC measured): only with time left in the call.
  if [ "$SIZE" = full ] && [ -f "$WORK/models/fp16/manifest.json" ] && [ $(($(date +%s) - started)) -lt 300 ]; then
    part full-fp16-unsafe 60 "${bench[@]}" full "${dawn[@]}" --dawn-option enable-dawn-features=allow_unsafe_apis,disable_robustness \
      --model "$WORK/models/fp16" --steps $steps --repeats 1 --out "$WORK/parts/full-fp16-unsafe.json"
  fi
  "$node" "$engine/report.mjs" --parts "$WORK/parts" --out "$OUT/gpu-bench.json" && cat "$OUT/gpu-bench.md"
}

case "$STAGE" in
  stage0) stage0 ;;
  stage1) stage1 ;;
  stage2) stage2 ;;
  all) stage0 && stage1 && stage2 ;;
  *) echo "usage: bash bench/gpu/run.sh stage0|stage1|stage2|all [--small]" >&2 && exit 2 ;;
esac
say "done"
