#!/usr/bin/env python3
"""Writes data/quickstart/train.txt and eval.txt: short documents of simple English about a small
made-up town, generated from templates with a fixed seed (original text, no copyright), so that a
tiny model can visibly learn their patterns in a minute of CPU training. Documents are separated
by blank lines, as fthost's `text` format expects. Run by hand: python3 tools/make_quickstart_data.py"""
import pathlib
import random

PEOPLE = ["Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jun"]
PLACES = ["the bakery", "the harbour", "the library", "the market", "the old mill", "the school", "the park"]
THINGS = ["a red kite", "fresh bread", "a blue boat", "three apples", "a small lamp", "a map of the hills"]
WEATHER = ["sunny", "windy", "rainy", "foggy", "cold", "warm"]
TIMES = ["In the morning", "At noon", "In the evening", "Before sunrise", "After lunch"]


def sentence(rng):
    person, other = rng.sample(PEOPLE, 2)
    place, thing = rng.choice(PLACES), rng.choice(THINGS)
    forms = [
        f"{rng.choice(TIMES)}, {person} walked to {place}.",
        f"{person} bought {thing} at {place}.",
        f"{person} gave {thing} to {other}.",
        f"It was {rng.choice(WEATHER)}, so {person} stayed near {place}.",
        f"{other} asked {person} about {thing}, and {person} smiled.",
        f"At {place}, {person} and {other} talked about the {rng.choice(WEATHER)} day.",
    ]
    return rng.choice(forms)


def document(rng):
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))


def main():
    out = pathlib.Path(__file__).resolve().parent.parent / "data" / "quickstart"
    out.mkdir(parents=True, exist_ok=True)
    for name, count, seed in (("train.txt", 400, 1), ("eval.txt", 40, 2)):
        rng = random.Random(seed)
        (out / name).write_text("\n\n".join(document(rng) for _ in range(count)) + "\n")


if __name__ == "__main__":
    main()
