"""tiny-shapes in float16 (weights, activations and I/O), for the engine's fp16 path on a GPU with shader-f16.

    python3 bench/gpu/tiny_fp16.py models/tiny-shapes OUT_DIR

Converted with onnxruntime's own converter (onnxruntime.transformers.float16, in the onnxruntime
wheel; onnxconverter_common's where that is what is installed), which keeps the ops that must stay
float32 (Resize's scales, …) behind casts. The manifest is the original's with float16 I/O, precision
fp16, and each file's new size and SHA-256. Exit 3 when no converter is installed.
"""
import hashlib
import json
import shutil
import sys
from pathlib import Path

import onnx

try:
    from onnxruntime.transformers.float16 import convert_float_to_float16
except ImportError:
    try:
        from onnxconverter_common.float16 import convert_float_to_float16
    except ImportError:
        print("no float16 converter (onnxruntime.transformers or onnxconverter_common) installed", file=sys.stderr)
        sys.exit(3)


def main():
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("training", "golden", "*.md", "report.json"))
    manifest = json.loads((source / "manifest.json").read_text())
    # The descriptor (webdiffusion-catalog/1): one variant, whose networks and files change.
    variant = manifest["variants"][0]
    for network in variant["models"].values():
        path = target / network["file"]
        model = convert_float_to_float16(onnx.load(str(path)), keep_io_types=False)
        onnx.save(model, str(path))
        for tensor in network["inputs"] + network["outputs"]:
            if tensor["dtype"] == "float32":
                tensor["dtype"] = "float16"
        print(f"{network['file']}: float16, {path.stat().st_size} bytes")
    manifest["id"] = f"{manifest['id']}-fp16"
    manifest["name"] = f"{manifest['name']} (fp16)"
    variant["id"] = variant["precision"] = "fp16"
    variant["requiredFeatures"] = ["shader-f16"]
    files = {f["path"] for f in variant["files"]}
    variant["files"] = [
        {"path": p, "size": (target / p).stat().st_size, "sha256": hashlib.sha256((target / p).read_bytes()).hexdigest()} for p in sorted(files)
    ]
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
