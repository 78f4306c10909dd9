#!/usr/bin/env python3
"""Hugging Face `tokenizers` throughput on the text fthost-bench-tokenizer wrote; run by that program.

Prints one line: MB/s of Tokenizer.encode over the documents one by one (one thread), MB/s of
encode_batch over all of them (all threads), the token count and the same checksum of the ids
that fthost prints, so equal checksums mean identical ids.

    python tools/bench_tokenizers.py --tokenizer tests/fixtures/tokenizer/llama3/tokenizer.json --text FILE
"""

import argparse
import time

DOCUMENT_SEPARATOR = "\x1e"


def checksum(all_ids):
    """The checksum fthost-bench-tokenizer computes: over every id of every document, in order, mod 2^64."""
    value = 0
    for ids in all_ids:
        for token in ids:
            value = (value * 1000003 + token + 1) % (1 << 64)
    return value


def best_seconds(function, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from tokenizers import Tokenizer
    import tokenizers

    tokenizer = Tokenizer.from_file(args.tokenizer)
    with open(args.text, encoding="utf-8") as stream:
        documents = stream.read().split(DOCUMENT_SEPARATOR)
    megabytes = sum(len(document.encode("utf-8")) for document in documents) / 1e6

    def encode_one_by_one():
        return [tokenizer.encode(document, add_special_tokens=False).ids for document in documents]

    def encode_batch():
        return [encoding.ids for encoding in tokenizer.encode_batch(documents, add_special_tokens=False)]

    sequential, all_ids = best_seconds(encode_one_by_one, args.repeats)
    batched, _ = best_seconds(encode_batch, args.repeats)
    tokens = sum(len(ids) for ids in all_ids)
    print(f"{megabytes / sequential:8.1f} MB/s encode (1 thread)  {megabytes / batched:8.1f} MB/s encode_batch "
          f"(all threads)  {tokens} tokens  checksum {checksum(all_ids):016x}  (tokenizers {tokenizers.__version__})")


if __name__ == "__main__":
    main()
