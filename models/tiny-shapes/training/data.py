"""Procedural data for tiny-shapes: one filled shape on a uniform background, with a caption.

Everything is drawn from a numpy Generator, so a seed fixes the whole data stream.
"""
import numpy as np

SIZE = 64
PALETTE = {
    "red": (220, 40, 40),
    "green": (40, 170, 70),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "purple": (150, 60, 190),
    "orange": (245, 140, 30),
    "white": (240, 240, 240),
    "black": (25, 25, 25),
}
COLOURS = list(PALETTE)
# Colours the base model never sees; the LoRAs in models/tiny-shapes-lora-* teach them, and the
# judge knows them so that it can tell a pink or cyan picture from the nearest base colour.
# Picked far from the eight (>= 80 in RGB) among the colours the autoencoder, trained on the
# eight only, gives back through a round trip (a LoRA on the UNet cannot teach the decoder):
# brighter pinks come back purple, and new background colours come back with broken shapes.
LORA_PALETTE = {
    "pink": (225, 135, 170),
    "cyan": (30, 180, 210),
    # A background colour: navy, dark enough to be far from blue (110) and black (95), one of
    # the few new backgrounds the autoencoder gives back with the shape intact (pink shapes on it:
    # 20 of 24 round trips judged right; no new background does better).
    "navy": (30, 35, 120),
}
SHAPES = ["circle", "square", "triangle"]
CAPTION_DROP = 0.1
SUPERSAMPLE = 4  # anti-aliased edges: each pixel is the mean of 4x4 sub-samples


def caption_for(rng, colour, shape, background):
    """The main template most of the time, variants otherwise, so words are learnt, not one string."""
    r = rng.random()
    if r < 0.5:
        return f"a {colour} {shape} on a {background} background"
    variants = [
        f"{colour} {shape} on {background} background",
        f"a {colour} {shape} on {background}",
        f"{shape}, {colour}, on {background}",
        f"{colour} {shape} on a {background} background",
        f"the {colour} {shape} on the {background} background",
        f"a {colour} {shape}, {background} background",
        f"{background} background, {colour} {shape}",
    ]
    return variants[rng.integers(len(variants))]


def _mask(shape, cx, cy, s, grid):
    """Coverage mask of a shape of size s (pixels) centred at (cx, cy), sampled on `grid`."""
    gy, gx = grid
    h = s / 2.0
    if shape == "circle":
        return (gx - cx) ** 2 + (gy - cy) ** 2 <= h * h
    if shape == "square":
        return (np.abs(gx - cx) <= h) & (np.abs(gy - cy) <= h)
    # isosceles triangle pointing up, base at the bottom, base = height = s
    top, bottom = cy - h, cy + h
    inside_y = (gy >= top) & (gy <= bottom)
    half_width = (gy - top) / s * h
    return inside_y & (np.abs(gx - cx) <= half_width)


_SUB = (np.arange(SIZE * SUPERSAMPLE) + 0.5) / SUPERSAMPLE
_GRID = np.meshgrid(_SUB, _SUB, indexing="ij")


def render(colour, shape, background, size_frac, fx, fy):
    """RGB uint8 picture. size_frac in [0.4, 0.7]; fx, fy in [0, 1] place the shape fully inside."""
    s = size_frac * SIZE
    cx = s / 2 + fx * (SIZE - s)
    cy = s / 2 + fy * (SIZE - s)
    m = _mask(shape, cx, cy, s, _GRID).astype(np.float32)
    cover = m.reshape(SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean(axis=(1, 3))[..., None]
    fg = np.array({**PALETTE, **LORA_PALETTE}[colour], np.float32)
    bg = np.array({**PALETTE, **LORA_PALETTE}[background], np.float32)
    return np.round(cover * fg + (1 - cover) * bg).astype(np.uint8)


def sample_scene(rng):
    colour = COLOURS[rng.integers(len(COLOURS))]
    background = colour
    while background == colour:
        background = COLOURS[rng.integers(len(COLOURS))]
    shape = SHAPES[rng.integers(len(SHAPES))]
    return colour, shape, background, rng.uniform(0.4, 0.7), rng.random(), rng.random()


def batch(rng, n, with_captions=True):
    """n pictures as float32 NCHW in [-1, 1] and their captions ('' when dropped)."""
    images = np.empty((n, 3, SIZE, SIZE), np.float32)
    captions = []
    for i in range(n):
        colour, shape, background, sf, fx, fy = sample_scene(rng)
        images[i] = render(colour, shape, background, sf, fx, fy).transpose(2, 0, 1) / 127.5 - 1
        if with_captions:
            dropped = rng.random() < CAPTION_DROP
            captions.append("" if dropped else caption_for(rng, colour, shape, background))
    return images, captions


def caption_corpus(rng, n=20000):
    """Captions used to learn the tokenizer's merges."""
    out = []
    for _ in range(n):
        colour, shape, background, *_ = sample_scene(rng)
        out.append(caption_for(rng, colour, shape, background))
    return out
