"""A Qwen2-style byte-level BPE tokenizer.json, learnt here, and the ids it gives: the golden
numbers for src/tokenizer/ (test/unit/tokenizer/byte-level-bpe.test.ts).

This is an independent implementation of Hugging Face tokenizers' pipeline for the Qwen2 /
Qwen3 family, written from the format's documentation: added tokens split out first (longest
match), NFC on the rest, the pre-tokenizer's Split regex (isolated), GPT-2's bytes-to-unicode
map, then the classic GPT-2 merge loop (the lowest-ranked adjacent pair, every occurrence at
once). Merges are learnt most-frequent-pair first, so every training word is rebuilt by them.

    python3 test/support/byte_level_bpe.py     rewrites test/unit/tokenizer/fixtures/{tokenizer.json,golden.json}

Needs the `regex` module (Unicode classes and inline flags, as the tokenizer.json's pattern uses).
"""
import json
import unicodedata
from collections import Counter
from pathlib import Path

import regex

# Qwen2's and Qwen3's pre-tokenizer pattern, as their tokenizer.json writes it.
QWEN2_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
SPLIT = regex.compile(QWEN2_PATTERN)
ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
MERGES = 400
OUT = Path(__file__).resolve().parents[1] / "unit" / "tokenizer" / "fixtures"


def bytes_to_unicode():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, moved = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + moved)
            moved += 1
    return table


BYTES = bytes_to_unicode()


def pieces(text):
    """NFC, then the pattern's matches (and, isolated too, anything between them)."""
    text = unicodedata.normalize("NFC", text)
    out, at = [], 0
    for m in SPLIT.finditer(text):
        if m.start() > at:
            out.append(text[at : m.start()])
        out.append(m.group())
        at = m.end()
    if at < len(text):
        out.append(text[at:])
    return ["".join(BYTES[b] for b in p.encode("utf-8")) for p in out]


def learn(corpus, limit=MERGES):
    freq = Counter(p for text in corpus for p in pieces(text))
    words = {w: tuple(w) for w in freq}
    merges = []
    while len(merges) < limit:
        pairs = Counter()
        for w, symbols in words.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += freq[w]
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for w, symbols in words.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            words[w] = tuple(out)
    return merges


def bpe(word, ranks):
    symbols = list(word)
    while len(symbols) > 1:
        pairs = {(a, b) for a, b in zip(symbols, symbols[1:])}
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        out, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and symbols[i] == best[0] and symbols[i + 1] == best[1]:
                out.append(best[0] + best[1])
                i += 2
            else:
                out.append(symbols[i])
                i += 1
        symbols = out
    return symbols


def encode(text, vocab, ranks, added):
    ids, at = [], 0
    while at < len(text):
        # The next added token (leftmost, then longest) splits the text.
        found = None
        for start in range(at, len(text)):
            matches = [t for t in added if text.startswith(t, start)]
            if matches:
                found = (start, max(matches, key=len))
                break
        end = found[0] if found else len(text)
        for piece in pieces(text[at:end]):
            ids.extend(vocab[s] for s in bpe(piece, ranks))
        if not found:
            break
        ids.append(added[found[1]])
        at = found[0] + len(found[1])
    return ids


CORPUS = [
    "a red circle on a blue background",
    "a green square on a white background",
    "a yellow triangle on a black background",
    "a purple circle on an orange background",
    "The quick brown fox jumps over the lazy dog.",
    "Don't stop: it's 2026, we're here and they'll come; I'm sure you've seen it.",
    "Zürich, São Paulo, naïve café, Ελληνικά, русский, 日本語のテキスト, 中文字符",
    "numbers 12345 and 3.14159, prices $42.50, 100%",
    "line one\nline two\r\n\ttabbed    spaced  out",
    "emoji 🙂 🚀 and symbols © ® ™ — – …",
]
CASES = [
    "a red circle on a blue background",
    "A RED CIRCLE on a Blue Background",
    "Don't", "DON'T", "it's", "we'RE",
    "  leading spaces and trailing   ",
    "line one\nline two\r\n\n\nthree",
    "numbers 12345 and 3.14",
    "Zürich café naïve",
    "Zu\u0308rich (decomposed ü)",
    "日本語のテキスト 中文",
    "emoji 🙂🚀",
    "a\u00a0non-breaking space",
    "<|im_start|>user\na red circle<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nsquare<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
    "<|endoftext|><|endoftext|>",
    "not special: <|im_sta rt|> <|im_end",
    "zebra xylophone qqq",
    "",
]


def build(corpus, limit=MERGES):
    """A tokenizer.json (as a dict) with merges learnt from `corpus`, and its vocabulary, ranks and added tokens."""
    merges = learn(corpus, limit)
    vocab = {}
    for s in BYTES.values():
        vocab[s] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    added = {t: len(vocab) + k for k, t in enumerate(ADDED)}
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
            for t, i in added.items()
        ],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
            ],
        },
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }
    return tokenizer, vocab, ranks, added


def main():
    tokenizer, vocab, ranks, added = build(CORPUS)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    golden = [{"text": text, "ids": encode(text, vocab, ranks, added)} for text in CASES]
    (OUT / "golden.json").write_text(json.dumps({"source": "test/support/byte_level_bpe.py", "cases": golden}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(tokenizer['model']['merges'])} merges, {len(vocab)} + {len(added)} tokens, {len(golden)} cases")


if __name__ == "__main__":
    main()
