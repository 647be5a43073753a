#!/usr/bin/env bash
# `npm run bench:gpu-local`: the GPU machine's run simulated here, on Dawn with SwiftShader: the
# bundle built (bench/gpu/build.ts), a copy of only what the two calls would carry (the working
# tree's tracked and untracked-not-ignored files, plus bench/gpu/bundle/stage1, then stage2), an
# empty $OUT for each call, no network (a network namespace of its own), the small stand-ins.
# Prints what each call carries against the 64 MiB limit, then the report. About 15 minutes on
# two cores: a bench command, not a test.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIM=${SIM:-/tmp/webdiffusion-gpu-sim}
LIMIT=$((64 * 1024 * 1024))
cd "$ROOT"
[ "${1:-}" = "--no-build" ] || npx tsx bench/gpu/build.ts

rm -rf "$SIM"
mkdir -p "$SIM/repo" "$SIM/out1" "$SIM/out2"
# What travels without being carried: tracked files and untracked ones that git does not ignore.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -f "$f" ] && [ ! -L "$f" ] && printf '%s\0' "$f"
done | tee "$SIM/tree.list" | xargs -0 cp --parents -t "$SIM/repo"
tree=$(xargs -0 stat -c %s <"$SIM/tree.list" | awk '{s += $1} END {print s}')
for stage in stage0 stage1 stage2; do
  carried=$(find bench/gpu/bundle/$stage -type f -printf '%s\n' | awk '{s += $1} END {print s}')
  total=$((tree + carried))
  printf '%s: working tree %.1f MiB + bench/gpu/bundle/%s %.1f MiB = %.1f MiB of 64 MiB%s\n' "$stage" \
    "$(echo "$tree / 1048576" | bc -l)" "$stage" "$(echo "$carried / 1048576" | bc -l)" "$(echo "$total / 1048576" | bc -l)" \
    "$([ $total -lt $LIMIT ] && echo '' || echo ' -- OVER THE LIMIT')"
done

run_call() { # run_call STAGE OUT
  rm -rf "$SIM/repo/bench/gpu/bundle/$1"
  mkdir -p "$SIM/repo/bench/gpu/bundle"
  cp -a "bench/gpu/bundle/$1" "$SIM/repo/bench/gpu/bundle/"
  (cd "$SIM/repo" && env OUT="$2" PYTHON=/usr/bin/python3 OMP_NUM_THREADS=1 VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
    unshare -n bash bench/gpu/run.sh "$1" --small)
}
mkdir -p "$SIM/out0"
run_call stage0 "$SIM/out0"
run_call stage1 "$SIM/out1"
run_call stage2 "$SIM/out2"
echo "Files the calls would bring back: $(ls "$SIM/out1" | tr '\n' ' ')/ $(ls "$SIM/out2" | tr '\n' ' ')"
