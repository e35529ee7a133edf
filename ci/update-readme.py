#!/usr/bin/env python3
"""Pastes the real output of the README's example commands into it (tests/cli.rs checks it).

    cargo build --release && python3 ci/update-readme.py
"""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
FLOWGATE = os.environ.get("FLOWGATE", os.path.join(ROOT, "target", "release", "flowgate"))

text = open(README).read()
pattern = re.compile(r"(cargo run --release -- check ([^\n]*)\n```\n(?:.*?\n)??(?:<details>.*?\n\n)?```text\n)(.*?)(```)", re.S)


def refresh(match):
    args = match.group(2).split(" ")
    run = subprocess.run([FLOWGATE, "check", *args], cwd=ROOT, capture_output=True, text=True)
    return match.group(1) + run.stderr + run.stdout.rstrip() + "\n" + match.group(4)


new = pattern.sub(refresh, text)
open(README, "w").write(new)
print("README outputs refreshed" if new != text else "README outputs unchanged")
