"""CLIP-style byte-level BPE: learn merges from the captions, write vocab.json / merges.txt, encode.

Merges are learnt most-frequent-pair first, so applying them in rank order rebuilds every
caption word as a single token (hand-written merges can leave words in pieces that are not in
the vocabulary).
"""
import json
import re
from collections import Counter

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MAX_LENGTH = 77
# CLIP's pre-tokenisation pattern, ASCII-only variant: our captions hold no other letters.
PATTERN = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-zA-Z]+|[0-9]|[^\sa-zA-Z0-9]+")


def bytes_to_unicode():
    """GPT-2 / CLIP's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_CHARS = bytes_to_unicode()


def words_of(text):
    text = " ".join(text.split()).lower()
    return ["".join(BYTE_CHARS[b] for b in w.encode("utf-8")) for w in PATTERN.findall(text)]


def learn_merges(corpus):
    freq = Counter(w for text in corpus for w in words_of(text))
    words = {w: tuple(w[:-1]) + (w[-1] + "</w>",) for w in freq}
    merges = []
    while True:
        pairs = Counter()
        for w, symbols in words.items():
            for a, b in zip(symbols, symbols[1:]):
                pairs[(a, b)] += freq[w]
        if not pairs:
            return merges
        # highest count first; ties broken by the pair itself so the result is deterministic
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


def build_vocab(merges):
    chars = list(BYTE_CHARS.values())
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}


def write(directory, merges, vocab):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    lines = ["#version: 0.2 (tiny-shapes, learnt from the training captions)"] + [f"{a} {b}" for a, b in merges]
    (directory / "merges.txt").write_text("\n".join(lines) + "\n")
    (directory / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}, indent=2))
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "CLIPTokenizer", "model_max_length": MAX_LENGTH, "do_lower_case": True,
         "bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}, indent=2))


class Tokenizer:
    def __init__(self, merges, vocab):
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.vocab = vocab
        self.cache = {}

    def _bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            pairs = [(self.ranks.get((a, b), float("inf")), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:]))]
            rank, i = min(pairs)
            if rank == float("inf"):
                break
            symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
        self.cache[word] = symbols
        return symbols

    def encode(self, text):
        ids = [self.vocab[BOS]]
        for w in words_of(text):
            ids += [self.vocab.get(s, self.vocab[EOS]) for s in self._bpe(w)]
        ids = ids[:MAX_LENGTH - 1] + [self.vocab[EOS]]
        return ids + [self.vocab[EOS]] * (MAX_LENGTH - len(ids))
