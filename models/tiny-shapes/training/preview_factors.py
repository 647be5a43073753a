"""
The latent-to-RGB map the runtime's cheap previews use: for each latent cell, RGB in [-1, 1] as
bias + factors^T z, where z is the cell's latent (times the VAE scaling factor, as the sampler
sees it). Fitted by least squares on training pictures' latents against the pictures averaged
over each 8x8 cell. Prints the JSON for the manifests' `latent.preview`.

    python3 models/tiny-shapes/training/preview_factors.py
"""
import json
from pathlib import Path

import numpy as np
import torch

from data import batch
from nets import AutoEncoder

HERE = Path(__file__).resolve().parent


def main():
    torch.set_num_threads(1)
    saved = torch.load(HERE / "cache" / "checkpoint.pt", map_location="cpu", weights_only=False)
    ae = AutoEncoder()
    ae.load_state_dict(saved["ae"])
    ae.eval()
    rng = np.random.default_rng(11)
    images, _ = batch(rng, 2048)
    x = torch.from_numpy(images)
    with torch.no_grad():
        z = ae.encode(x) * saved["scaling_factor"]
    cells = torch.nn.functional.avg_pool2d(x, 8)  # [n, 3, 8, 8] in [-1, 1]
    Z = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).numpy().astype(np.float64)
    Y = cells.permute(0, 2, 3, 1).reshape(-1, 3).numpy().astype(np.float64)
    A = np.concatenate([Z, np.ones((Z.shape[0], 1))], axis=1)
    solution, *_ = np.linalg.lstsq(A, Y, rcond=None)
    residual = np.sqrt(np.mean((A @ solution - Y) ** 2))
    print(json.dumps({
        "rgbFactors": [[round(float(v), 5) for v in row] for row in solution[:-1]],
        "rgbBias": [round(float(v), 5) for v in solution[-1]],
    }))
    print(f"rms error {residual:.4f} (of a [-1, 1] range) over {Z.shape[0]} cells")


if __name__ == "__main__":
    main()
