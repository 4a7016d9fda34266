#!/usr/bin/env python3
"""Refreshes every quoted file in the docs: a `<!-- example: path -->` line followed by a
fenced block gets the file's current text. python-tests/test_examples.py fails when a
quote and its file differ; run this after editing an example."""

import glob
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUOTE = re.compile(r"<!-- example: (\S+) -->\n```([a-z]*)\n(.*?)```\n", re.S)


def refresh(match):
    path, lang = match.group(1), match.group(2)
    with open(os.path.join(REPO, path)) as f:
        return f"<!-- example: {path} -->\n```{lang}\n{f.read()}```\n"


for doc in glob.glob(os.path.join(REPO, "docs", "*.md")) + [os.path.join(REPO, "README.md")]:
    with open(doc) as f:
        text = f.read()
    new = QUOTE.sub(refresh, text)
    if new != text:
        with open(doc, "w") as f:
            f.write(new)
        print(f"updated {os.path.relpath(doc, REPO)}")
