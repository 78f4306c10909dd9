#!/usr/bin/env python3
"""Writes the material the bundled tiny Llama is made from:

  data/pretrain/stories.txt     short stories in simple English, generated from templates with a
                                fixed seed. Original text written by this script, dedicated to the
                                public domain (CC0), so the model trained on it is free to ship.
                                It knows data/quickstart's people, places and things (so every token
                                of the quickstart text has a trained embedding, which LoRA, training
                                no embeddings, needs) but tells different stories: a model
                                fine-tuned on the quickstart text visibly takes up its sentences.
  models/tiny-llama/tokenizer.json, tokenizer_config.json
                                a byte-level BPE tokenizer in Llama 3's style (its split regex,
                                <|begin_of_text|> before every sequence) trained with `tokenizers`
                                on both texts, 1024 ids including the special tokens.

The weights are then trained by fthost itself (configs/pretrain-tiny-llama.yaml; see
models/tiny-llama/README.md). Run by hand:
    ~/.venvs/fthost-reference/bin/python tools/make_tiny_llama.py
"""
import json
import pathlib
import random

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

ROOT = pathlib.Path(__file__).resolve().parent.parent
VOCAB_SIZE = 1024
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>"]
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")

QUICKSTART_NAMES = ["Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jun"]
NAMES = ["Mara", "Tomas", "Lena", "Oskar", "Nina", "Pavel", "Rosa", "Felix", "Iris", "Hugo", "Clara", "Milo",
         "Vera", "Leo", "Anya", "Emil", "Sofia", "Karl", "Lina", "Otto", "Greta", "Arno", "Elsa", "Boris"] + QUICKSTART_NAMES
ANIMALS = ["a grey fox", "an old dog", "a small owl", "a brown horse", "a white goat", "a black cat", "a young deer"]
PLACES = ["the river", "the forest", "the village", "the farm", "the beach", "the hill", "the garden",
          "the station", "the bridge", "the lake", "the field", "the castle", "the valley", "the road",
          "the bakery", "the harbour", "the library", "the market", "the old mill", "the school", "the park"]
THINGS = ["a wooden box", "a green hat", "an old key", "a silver coin", "a long rope", "a basket of eggs",
          "a paper boat", "a letter", "a warm coat", "a jar of honey", "a broken clock", "a yellow flower",
          "a red kite", "fresh bread", "a blue boat", "three apples", "a small lamp", "a map of the hills"]
VERBS = ["found", "carried", "painted", "fixed", "lost", "hid", "showed", "cleaned", "sold", "kept"]
FEELINGS = ["happy", "tired", "surprised", "calm", "curious", "proud", "sleepy", "glad"]
TIMES = ["One morning", "Later that day", "In the afternoon", "That night", "Early the next day", "At dusk",
         "In the morning", "At noon", "In the evening", "Before sunrise", "After lunch"]
WEATHER = ["clear", "cloudy", "snowy", "bright", "stormy", "quiet", "sunny", "windy", "rainy", "foggy", "cold", "warm"]
CONNECTORS = ["Then", "After that", "Soon", "Later"]


def story(rng):
    hero, friend = rng.sample(NAMES, 2)
    place, other_place = rng.sample(PLACES, 2)
    thing, animal = rng.choice(THINGS), rng.choice(ANIMALS)
    sentences = [f"{rng.choice(TIMES)}, {hero} went to {place}."]
    middle = [
        f"The sky was {rng.choice(WEATHER)}.",
        f"There {hero} {rng.choice(VERBS)} {thing}.",
        f"{hero} saw {animal} near {other_place}.",
        f"{friend} came along and said hello.",
        f"\"Look at this,\" said {hero}, and {friend} smiled.",
        f"{rng.choice(CONNECTORS)}, {hero} and {friend} walked to {other_place}.",
        f"{friend} {rng.choice(VERBS)} {rng.choice(THINGS)} for {hero}.",
        f"{animal[0].upper() + animal[1:]} followed them all the way.",
        f"{hero} felt {rng.choice(FEELINGS)}.",
    ]
    sentences += rng.sample(middle, rng.randint(3, 6))
    sentences.append(f"In the end, {hero} was {rng.choice(FEELINGS)} and went home.")
    return " ".join(sentences)


def write_stories():
    rng = random.Random(7)
    path = ROOT / "data/pretrain/stories.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(story(rng) for _ in range(6000)) + "\n")
    return path


def write_tokenizer(texts):
    tokenizer = Tokenizer(models.BPE(ignore_merges=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE - len(SPECIALS), special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train([str(text) for text in texts], trainer)
    tokenizer.add_special_tokens(SPECIALS)
    bos = tokenizer.token_to_id(SPECIALS[0])
    tokenizer.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{SPECIALS[0]} $A", pair=f"{SPECIALS[0]} $A {SPECIALS[0]} $B:1",
                                      special_tokens=[(SPECIALS[0], bos)]),
    ])
    folder = ROOT / "models/tiny-llama"
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": SPECIALS[0], "eos_token": SPECIALS[1]},
        indent=2) + "\n")
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["vocab_size"] = VOCAB_SIZE
    config["bos_token_id"] = bos
    config["eos_token_id"] = tokenizer.token_to_id(SPECIALS[1])
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return tokenizer


def main():
    stories = write_stories()
    tokenizer = write_tokenizer([stories, ROOT / "data/quickstart/train.txt"])
    sample = "At the library, Jun and Ben talked about the foggy day. One morning, Mara went to the river."
    print("wrote", stories, "and models/tiny-llama/tokenizer.json;", len(tokenizer.encode(sample).ids),
          "tokens for:", sample)


if __name__ == "__main__":
    main()
