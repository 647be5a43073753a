"""tiny-shapes-lm's tokenizer.json: byte-level BPE of the Qwen2 kind (its split pattern, NFC, the
chat tokens), merges learnt from every caption form tiny-shapes is trained on, most frequent pair
first; and the ids of every caption in the model's prompt template, for training.

    python3 models/tiny-shapes-lm/training/tokenizer.py    (needs the `regex` module)

Uses test/support/byte_level_bpe.py, the independent implementation the runtime's tokenizer is
tested against, for both the merges and the ids.
"""
import itertools
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.append(str(ROOT / "test" / "support"))

import byte_level_bpe as bpe  # noqa: E402
from prompt import MAX_LENGTH, TEMPLATE  # noqa: E402

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
SHAPES = ["circle", "square", "triangle"]
FORMS = [
    "a {c} {s} on a {b} background",
    "{c} {s} on {b} background",
    "a {c} {s} on {b}",
    "{s}, {c}, on {b}",
    "{c} {s} on a {b} background",
    "the {c} {s} on the {b} background",
    "a {c} {s}, {b} background",
    "{b} background, {c} {s}",
]


def captions():
    return [f.format(c=c, s=s, b=b) for f in FORMS for c, s, b in itertools.product(COLOURS, SHAPES, COLOURS)]


def main():
    texts = captions()
    tokenizer, vocab, ranks, added = bpe.build(texts + [TEMPLATE.replace("{prompt}", "")], limit=400)
    out = HERE.parent / "tokenizer" / "tokenizer.json"
    out.write_text(json.dumps(tokenizer, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    ids = {text: bpe.encode(TEMPLATE.replace("{prompt}", text), vocab, ranks, added) for text in texts + [""]}
    longest = max(len(v) for v in ids.values())
    assert longest <= MAX_LENGTH, longest
    cache = HERE / "cache"
    cache.mkdir(exist_ok=True)
    (cache / "caption_ids.json").write_text(json.dumps({"vocab": len(vocab) + len(added), "pad": added["<|endoftext|>"], "ids": ids}) + "\n")
    print(f"{len(tokenizer['model']['merges'])} merges, {len(vocab) + len(added)} tokens, {len(ids)} prompts, longest {longest} tokens")


if __name__ == "__main__":
    main()
