#!/usr/bin/env python3
"""An outline nobody wrote, for checks that must not pass only on the examples.

Usage: scripts/random-outline.py SEED > outline.yaml

From SEED: one of the six course languages, 2 to 4 modules of 1 to 3 lessons, topic, lesson and
module titles drawn from a vocabulary (with characters that need escaping in HTML, XML, GIFT and
JSON), and a lab activity on some lessons (at least one, so `--content both` is a valid request).
The same SEED gives the same outline.
"""
import random
import sys

LANGUAGES = ["en", "es", "fr", "de", "pt", "it"]
SUBJECTS = ["Soil chemistry", "Bread baking", "Choir leadership", "Solar wiring", "Bee keeping",
            "Bookkeeping", "Sign language", "Bicycle repair", "Urban sketching", "Data privacy",
            "First aid", "Pottery glazes", "Tide pools", "Typography", "Public speaking"]
WORDS = ["balance", "tools", "safety", "patterns", "history", "measurements", "errors", "practice",
         "materials", "rhythm", "colour", "structure", "planning", "records", "ethics", "timing",
         "sources", "feedback", "costs", "care"]
MARKS = ["&", "<basics>", "{core}", "#1", "~ approx.", "Q&A: ", "= rules", "\"quoted\""]


def quoted(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def title(rng, n=2):
    words = rng.sample(WORDS, n)
    text = " ".join(words).capitalize()
    if rng.random() < 0.3:
        text = f"{text} {rng.choice(MARKS)}"
    return text


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__.strip().splitlines()[2])
    rng = random.Random(int(argv[1]))
    subject = rng.choice(SUBJECTS)
    print("course:")
    print(f"  title: {quoted(subject + ' for ' + rng.choice(['beginners', 'teams', 'volunteers']))}")
    print(f"  description: {quoted('A course on ' + subject.lower() + '.')}")
    print(f"  language: {rng.choice(LANGUAGES)}")
    print("  level: beginner")
    print("modules:")
    used = set()
    labs = 0
    modules = rng.randint(2, 4)
    for m in range(1, modules + 1):
        print(f"  - title: {quoted(f'Module {m}: ' + title(rng))}")
        print("    lessons:")
        lessons = rng.randint(1, 3)
        for li in range(lessons):
            lesson = title(rng, 3)
            while lesson in used:
                lesson = title(rng, 3)
            used.add(lesson)
            print(f"      - title: {quoted(lesson)}")
            print("        topics:")
            for _ in range(3):
                print(f"          - {quoted(title(rng))}")
            last = m == modules and li == lessons - 1
            if rng.random() < 0.4 or (last and labs == 0):
                labs += 1
                print("        lab_activities:")
                print(f"          - {quoted('Try ' + title(rng).lower())}")


if __name__ == "__main__":
    main(sys.argv)
