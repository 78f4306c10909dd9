#!/usr/bin/env python3
"""Writes tests/fixtures/tokenizer/<case>/ with Hugging Face `tokenizers` as the oracle.

fthost must tokenize exactly as `tokenizers` does. The Hub is out of reach here, so each case is a
small tokenizer trained by `tokenizers` itself on the text below, then assembled from the same
components and settings as a real model's tokenizer.json (GPT-2, Llama 3, Qwen2, Llama 2, Mistral,
a Metaspace/unk variant, one that runs every Split behaviour, one with BPE's subword prefix and
word suffix). For each case the folder holds:

- tokenizer.json: written by `tokenizers` (the gpt2 case's merges are rewritten in the legacy
  "a b" string form that older files use, so both forms stay under test);
- tokenizer_config.json: the bos/eos/unk tokens, as transformers folders carry them;
- expected.json: for every test text, the ids with and without special tokens and the decoded
  strings (keeping and skipping special tokens); decode-only cases (ids that cut a character in
  half); token_to_id probes; vocab_size and the bos/eos ids transformers reports.

Everything is recorded from Tokenizer.from_file(the written tokenizer.json), so what the C++ test
reads is exactly what was checked. Run by hand; fthost never imports this.

    ~/.venvs/fthost-reference/bin/python tools/make_tokenizer_fixtures.py

The texts are BASE_TEXTS (multilingual, emoji with ZWJ, code, whitespace runs, numbers, composed
and decomposed accents, whitespace corner cases), a few per case with its special and added tokens
inside, and 30 fixed pseudo-random strings per case over RANDOM_ALPHABET.

Deterministic: the trainers run single-threaded (RAYON_NUM_THREADS=1) on fixed text and without
limit_alphabet (whose ties are broken in hash order); two runs give byte-identical files (checked
with sha256sum over all 24 files).
"""

import json
import os
import pathlib
import platform
import shutil

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers  # noqa: E402
from tokenizers import processors, trainers  # noqa: E402

OUTPUT_ROOT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/tokenizer"

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Training text: written for these fixtures (no third-party text). Emoji and rare scripts are left
# out on purpose, so the test texts reach byte fallback and <unk>.
CORPUS = """
The quick brown fox jumps over the lazy dog. A tokenizer splits text into pieces, and a model
learns which piece follows which. We'll train a small model today; it's not large, but they've
said it works. I'm sure you'd like to see the numbers: 1, 2, 3, 10, 42, 100, 2024, 3.14159.
Machine learning is fun. Fine-tuning a language model takes data, patience and a good tokenizer.
The tokenizer must agree with the reference exactly, byte for byte, id for id.
def train(model, data, steps=100):
    for step in range(steps):
        loss = model.step(data.next())
        if step % 10 == 0:
            print(f"step {step}: loss {loss:.4f}")
    return model
class Tokenizer:
\tdef encode(self, text):
\t\treturn [self.vocab[piece] for piece in self.split(text)]
Café, naïve, résumé, Ångström, jalapeño, façade, coöperate, Zürich, Grüße, déjà vu.
你好，世界！这是一个测试。机器学习很有趣。我们今天训练一个小模型。语言模型需要数据。
Привет, мир! Это тест. こんにちは世界。안녕하세요 세계.
Numbers: 0 1 2 3 4 5 6 7 8 9 12 345 6789 1,000,000 99.9% $19.99 2+2=4 x**2 a_b snake_case CamelCase.
Whitespace    runs   and\ttabs\tare kept.   Lines end here.
JSON: {"name": "fthost", "version": [0, 1], "ok": true}
"""

BASE_TEXTS = [
    "Hello, world! It's a test; we'll see what they've done. I'M SHOUTING & don't care.",
    "IT'S, It'S and it’s: three apostrophes.",
    "你好，世界！这是一个测试。机器学习很有趣。",
    "Family: 👨‍👩‍👧‍👦, flags 🇫🇷🇯🇵, thumbs 👍🏽, heart ❤️ and 🧑‍💻 coding.",
    "def add(a, b):\n\treturn a + b\n\nif __name__ == \"__main__\":\n    print(add(1, 2))\n",
    "  leading spaces,   inner   runs,\ttabs\t\tand trailing   \n\n\n  ",
    "Pi is 3.14159, year 2024, 1234567890 and 12,345.67 dollars; ٣٤٥ digits, ½ and ² too.",
    "composed: café naïve résumé Ångström",
    "decomposed: cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030angstro\u0308m",
    "Grüße aus Zürich — 東京 🍣 и Москва.",
    "Rare: 𠀀𠀁 ideographs, नमस्ते, สวัสดี, שלום, مرحبا.",
    "no\u00a0break\u00a0spaces and\u3000ideographic\u3000ones, zero\u200bwidth.",
    "not spaces: a\u180eb \u180e c\u0085d\u2028e \ufeff",
    "supercalifragilisticexpialidocious supercalifragilisticexpialidocious",
    "a\r\nb\rc\n\n\nd    \n   e",
    "",
    " ",
    "\n",
    "x",
    "▁already▁marked text",
]


# Characters for the random texts: every class the split regexes and normalizers care about,
# including the whitespace corners (U+0085, U+2028, U+180E, U+200B, U+FEFF).
RANDOM_ALPHABET = (list("abcxyzABCXYZ0123456789'`\".,;:!?-_()[]{}<>|/\\#@$%^&*+=~")
                   + [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u0085", "\u2028",
                      "\u180e", "\u200b", "\ufeff", "\u200d"]
                   + list("éÉñüßçøÅΣσςİı") + ["e\u0301", "a\u0308", "\u0301"]
                   + list("你好世界東京한국어") + ["👍", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🙂", "𠀀"]
                   + ["'s", "'LL", "’t", "▁", "Ġ", "<0x41>", "<s", "</", "<|", "|>", "½", "²", "١٢"])


def random_texts(extra_pieces, count=30, seed=1234):
    """Fixed pseudo-random strings over RANDOM_ALPHABET and the case's own special/added tokens."""
    import random
    generator = random.Random(seed)
    pool = RANDOM_ALPHABET + extra_pieces * 3
    return ["".join(generator.choice(pool) for _ in range(generator.randint(1, 40))) for _ in range(count)]


def base_texts_with(extra, tokens=()):
    return BASE_TEXTS + extra + random_texts(list(tokens))


def train_byte_level_bpe(pre_tokenizer, normalizer=None, vocab_size=1000):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([CORPUS] * 3, trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    return model["vocab"], [tuple(merge) for merge in model["merges"]]


def train_sentencepiece_bpe(vocab_size=700):
    """A SentencePiece-style BPE: words start with ▁, <unk> <s> </s> then <0x00>..<0xFF> first."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    # Training only: cut at ▁ so merges never cross words (SentencePiece's split_by_whitespace).
    tokenizer.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    byte_tokens = [f"<0x{byte:02X}>" for byte in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  special_tokens=["<unk>", "<s>", "</s>"] + byte_tokens)
    tokenizer.train_from_iterator([CORPUS] * 3, trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    return model["vocab"], [tuple(merge) for merge in model["merges"]]


def make_gpt2():
    vocab, merges = train_byte_level_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    tokenizer = Tokenizer(models.BPE(vocab, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    # RoBERTa's <mask> eats the spaces before it; a non-special word that only matches alone.
    tokenizer.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False)])
    tokenizer.add_tokens([AddedToken("fthost", single_word=True, normalized=False)])
    texts = base_texts_with([
        "end of text<|endoftext|>next document<|endoftext|>",
        "The capital of France is <mask>.   <mask> again<mask>",
        "fthost fthostly x-fthost fthost_y (fthost) café-fthost",
        "<|endoftext|>",
    ], ["<|endoftext|>", "<mask>", "fthost"])
    config = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    return tokenizer, texts, config, {"legacy_merges": True}


def make_llama3():
    split = pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)
    vocab, merges = train_byte_level_bpe(pre_tokenizers.Sequence([split, byte_level]), vocab_size=1200)
    tokenizer = Tokenizer(models.BPE(vocab, merges, ignore_merges=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([split, byte_level])
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
                "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in specials])
    tokenizer.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
                                      special_tokens=[("<|begin_of_text|>", tokenizer.token_to_id("<|begin_of_text|>"))]),
    ])
    texts = base_texts_with([
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
        "text<|end_of_text|><|begin_of_text|> more <|eot_id|>",
        "<|start_header_id|<|end_header_id|>> nested-looking <|reserved_special_token_1|>",
    ], ["<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>"])
    config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}
    return tokenizer, texts, config, {}


def make_qwen2():
    split = pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    vocab, merges = train_byte_level_bpe(pre_tokenizers.Sequence([split, byte_level]), normalizers.NFC())
    tokenizer = Tokenizer(models.BPE(vocab, merges))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([split, byte_level])
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tokenizer.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                  for token in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]])
    # Not special: kept by decode(skip_special_tokens=True). "café" is matched in NFC text, so its
    # decomposed spelling matches too.
    tokenizer.add_tokens([AddedToken("<tool_call>", special=False, normalized=False),
                          AddedToken("</tool_call>", special=False, normalized=False),
                          AddedToken("café", special=False, normalized=True)])
    texts = base_texts_with([
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "<tool_call>\n{\"name\": \"f\"}\n</tool_call><|endoftext|>",
        "café and cafe\u0301 and CAFÉ",
    ], ["<|im_start|>", "<|im_end|>", "<tool_call>", "café"])
    config = {"bos_token": None, "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    return tokenizer, texts, config, {}


def sentencepiece_model(vocab, merges, byte_fallback=True):
    return models.BPE(vocab, merges, unk_token="<unk>", byte_fallback=byte_fallback, fuse_unk=True)


def llama_decoder():
    return decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                              decoders.Strip(content=" ", left=1, right=0)])


def add_llama_specials(tokenizer):
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                  for token in ["<unk>", "<s>", "</s>"]])


def bos_template(tokenizer, single="<s> $A"):
    specials = [(token, tokenizer.token_to_id(token)) for token in ["<s>", "</s>"] if token in single]
    return processors.TemplateProcessing(single=single, pair="<s> $A $B:1", special_tokens=specials)


def make_llama2():
    vocab, merges = train_sentencepiece_bpe()
    tokenizer = Tokenizer(sentencepiece_model(vocab, merges))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.decoder = llama_decoder()
    add_llama_specials(tokenizer)
    tokenizer.post_processor = bos_template(tokenizer)
    # normalized=True: matched in the normalized text, where it reads "▁<tool>".
    tokenizer.add_tokens([AddedToken("<tool>", special=False, normalized=True)])
    # Strips the whitespace around it on both sides.
    tokenizer.add_special_tokens([AddedToken("<sep>", special=True, normalized=False, lstrip=True, rstrip=True)])
    texts = base_texts_with([
        "<s>Hello</s><s> world </s>",
        "a <tool> b<tool>c <tool>",
        "left   <sep>   right<sep>\n\tnext",
        "<unk> literal and <0x41> not a byte",
    ], ["<s>", "</s>", "<tool>", "<sep>"])
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    return tokenizer, texts, config, {}


def make_mistral():
    vocab, merges = train_sentencepiece_bpe()
    tokenizer = Tokenizer(sentencepiece_model(vocab, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tokenizer.decoder = llama_decoder()
    add_llama_specials(tokenizer)
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                  for token in ["[INST]", "[/INST]"]])
    tokenizer.post_processor = bos_template(tokenizer)
    texts = base_texts_with([
        "[INST] Hello there [/INST] Hi!</s>[INST] again [/INST]",
        " [INST]leading space",
        "<s>[INST]x[/INST]",
    ], ["<s>", "</s>", "[INST]", "[/INST]"])
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    return tokenizer, texts, config, {}


def make_metaspace_unk():
    vocab, merges = train_sentencepiece_bpe()
    vocab = {token: index for token, index in vocab.items() if not token.startswith("<0x")}
    vocab = {token: index for index, token in enumerate(sorted(vocab, key=vocab.get))}
    tokenizer = Tokenizer(sentencepiece_model(vocab, merges, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    add_llama_specials(tokenizer)
    tokenizer.post_processor = bos_template(tokenizer, single="<s> $A </s>")
    texts = base_texts_with([
        "fullwidth ＡＢＣ１２３ and ligature ﬁne, ① circled",
        "<s> inside </s>text",
        "unknown 🙂🙂 fused 🙂 twice",
        "ΟΔΟΣ İSTANBUL ÀÉÎ",
    ], ["<s>", "</s>", "<unk>"])
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    return tokenizer, texts, config, {}


def make_split_behaviors():
    """Not a real model: every Split delimiter behaviour, invert, and ByteLevel's add_prefix_space."""
    vocab, merges = train_byte_level_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
    tokenizer = Tokenizer(models.BPE(vocab, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s+"), behavior="removed"),
        pre_tokenizers.Split(Regex(r"\p{N}"), behavior="merged_with_previous"),
        pre_tokenizers.Split("-", behavior="contiguous"),
        pre_tokenizers.Split(Regex(r"[.,!?]"), behavior="merged_with_next"),
        # invert: the text between matches is what gets removed, so only the matches stay.
        pre_tokenizers.Split(Regex(r"[^\x{1F300}-\x{1FAFF}]+"), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    texts = base_texts_with([
        "a--b---c 1-2-3 x1y22z333, end. !start ?? ..",
        "emoji🙂between🙂🙂words 2🙂3",
    ])
    return tokenizer, texts, {}, {}


def train_affixed_bpe(merge_count=300, prefix="##", suffix="</w>"):
    """A plain BPE trainer for the affixed case: `tokenizers`' trainer numbers "##x" symbols in hash
    order, so its output changes from run to run. Ties go to the smallest pair, so this one does not."""
    import collections
    import re
    word_counts = collections.Counter(re.findall(r"\w+|[^\w\s]+", CORPUS * 3))

    def symbols(word):
        out = [character if index == 0 else prefix + character for index, character in enumerate(word)]
        out[-1] += suffix
        return tuple(out)

    words = {symbols(word): count for word, count in word_counts.items()}
    vocab = {"[UNK]": 0}
    for word in sorted(words):
        for symbol in word:
            vocab.setdefault(symbol, len(vocab))
    merges = []
    for _ in range(merge_count):
        pairs = collections.Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merged = best[0] + best[1][len(prefix):]
        merges.append(best)
        vocab.setdefault(merged, len(vocab))
        new_words = {}
        for word, count in words.items():
            out, index = [], 0
            while index < len(word):
                if index + 1 < len(word) and (word[index], word[index + 1]) == best:
                    out.append(merged)
                    index += 2
                else:
                    out.append(word[index])
                    index += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + count
        words = new_words
    return vocab, merges


def make_bpe_affixes():
    """Not a real model: BPE with continuing_subword_prefix and end_of_word_suffix, no decoder."""
    vocab, merges = train_affixed_bpe()
    tokenizer = Tokenizer(models.BPE(vocab, merges, unk_token="[UNK]", continuing_subword_prefix="##",
                                     end_of_word_suffix="</w>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"\w+|[^\w\s]+"), behavior="isolated")
    texts = base_texts_with(["unbelievable tokenization, re-tokenized!", "a b c aa bb cc"])
    return tokenizer, texts, {}, {}


CASES = {
    "gpt2": make_gpt2,
    "llama3": make_llama3,
    "qwen2": make_qwen2,
    "llama2": make_llama2,
    "mistral": make_mistral,
    "metaspace_unk": make_metaspace_unk,
    "split_behaviors": make_split_behaviors,
    "bpe_affixes": make_bpe_affixes,
}


def write_legacy_merges(path):
    """Rewrites model.merges as ["a b", ...], the form files written before tokenizers 0.20 use."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["model"]["merges"] = [" ".join(pair) for pair in data["model"]["merges"]]
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def decode_only_cases(tokenizer, texts):
    """Id runs that end inside a multi-byte character, and out-of-vocabulary ids."""
    cases = []
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        for cut in (1, 2, 3):
            if len(ids) > cut:
                cases.append(ids[:-cut])
                cases.append(ids[cut:])
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    cases.append([vocab_size + 5, 0, vocab_size + 100])
    return cases


def record(name, folder, texts):
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    cases = []
    for text in texts:
        with_special = tokenizer.encode(text, add_special_tokens=True).ids
        without_special = tokenizer.encode(text, add_special_tokens=False).ids
        cases.append({
            "text": text,
            "ids": with_special,
            "ids_no_special": without_special,
            "decoded": tokenizer.decode(with_special, skip_special_tokens=False),
            "decoded_skip_special": tokenizer.decode(with_special, skip_special_tokens=True),
        })
    decode_cases = []
    for ids in decode_only_cases(tokenizer, [BASE_TEXTS[2], BASE_TEXTS[3], BASE_TEXTS[10]]):
        decode_cases.append({"ids": ids, "decoded": tokenizer.decode(ids, skip_special_tokens=False)})
    probes = ["<s>", "</s>", "<unk>", "<|endoftext|>", "<|begin_of_text|>", "<|im_end|>", "the", "Ġthe", "▁the",
              "<0x41>", "not-a-token"]

    import transformers  # only for the bos/eos ids a transformers user sees
    auto = transformers.AutoTokenizer.from_pretrained(str(folder))
    return {
        "case": name,
        "versions": {"tokenizers": tokenizers.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
        "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
        "bos_id": auto.bos_token_id,
        "eos_id": auto.eos_token_id,
        "token_to_id": {probe: tokenizer.token_to_id(probe) for probe in probes},
        # The first ids and every added token (a normalized one reads in its normalized form).
        "id_to_token": {str(index): tokenizer.id_to_token(index)
                        for index in sorted(set(range(6)) | set(tokenizer.get_added_tokens_decoder()))},
        "cases": cases,
        "decode_cases": decode_cases,
    }


def main():
    if OUTPUT_ROOT.exists():
        shutil.rmtree(OUTPUT_ROOT)
    for name, make in CASES.items():
        folder = OUTPUT_ROOT / name
        folder.mkdir(parents=True)
        tokenizer, texts, config, options = make()
        path = folder / "tokenizer.json"
        tokenizer.save(str(path), pretty=True)
        if options.get("legacy_merges"):
            write_legacy_merges(path)
        config = {"tokenizer_class": "PreTrainedTokenizerFast", **config}
        (folder / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n",
                                                      encoding="utf-8")
        expected = record(name, folder, texts)
        (folder / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n",
                                              encoding="utf-8")
        print(f"{name}: {len(expected['cases'])} texts, {len(expected['decode_cases'])} decode cases, "
              f"vocab {expected['vocab_size']}")


if __name__ == "__main__":
    main()
