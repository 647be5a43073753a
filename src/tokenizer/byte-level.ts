/**
 * GPT-2's reversible map from bytes to unicode characters, which every byte-level BPE (GPT-2,
 * CLIP, Qwen) runs its merges over: printable Latin-1 bytes stand for themselves, the rest
 * (controls, space, …) are moved to U+0100 onwards in byte order, so no symbol is whitespace and
 * BPE can treat every byte as an ordinary character.
 */
function bytesToUnicode(): readonly string[] {
  const printable = new Set<number>();
  const ranges: [string, string][] = [
    ['!', '~'],
    ['¡', '¬'],
    ['®', 'ÿ'],
  ];
  for (const [first, last] of ranges) {
    for (let b = first.charCodeAt(0); b <= last.charCodeAt(0); b++) printable.add(b);
  }
  let moved = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable.has(b) ? b : 256 + moved++));
}

/** The symbol standing for each byte value. */
export const BYTE_TO_UNICODE = bytesToUnicode();

const UTF8 = new TextEncoder();

/** A text's UTF-8 bytes as byte-level symbols, one character each. */
export function byteSymbols(text: string): string {
  return Array.from(UTF8.encode(text), (b) => BYTE_TO_UNICODE[b] as string).join('');
}

/**
 * BPE over one word's symbols: the adjacent pair of lowest rank is merged, every occurrence at
 * once, until no pair has a rank. `ranks` is keyed "a b" (a space never occurs inside a
 * byte-level symbol).
 */
export function applyMerges(initial: readonly string[], ranks: ReadonlyMap<string, number>): string[] {
  let symbols = [...initial];
  for (;;) {
    let bestRank = Infinity;
    let best = -1;
    for (let k = 0; k + 1 < symbols.length; k++) {
      const rank = ranks.get(`${symbols[k]} ${symbols[k + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = k;
      }
    }
    if (best < 0) return symbols;
    const first = symbols[best] as string;
    const second = symbols[best + 1] as string;
    const merged: string[] = [];
    for (let k = 0; k < symbols.length; k++) {
      if (symbols[k] === first && symbols[k + 1] === second) {
        merged.push(first + second);
        k++;
      } else {
        merged.push(symbols[k] as string);
      }
    }
    symbols = merged;
  }
}
