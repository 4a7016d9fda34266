"""Every relative link in the docs, the README, the CHANGELOG and the examples' README
points at a file that exists, and every #anchor at a heading of that file."""

import glob
import os
import re

from helpers import REPO


def anchors(path):
    with open(path) as f:
        headings = re.findall(r"(?m)^#+ (.*)$", f.read())
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_relative_link_and_anchor_resolves():
    files = glob.glob(os.path.join(REPO, "docs", "*.md")) + [
        os.path.join(REPO, p) for p in
        ("README.md", "CHANGELOG.md", "examples/README.md", "python-tests/README.md")]
    broken, checked = [], 0
    for doc in files:
        with open(doc) as f:
            text = re.sub(r"```.*?```", "", f.read(), flags=re.S)  # code is not prose
        for link in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", link):
                continue
            path, _, anchor = link.partition("#")
            target = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
            checked += 1
            if not os.path.exists(target):
                broken.append((os.path.relpath(doc, REPO), link))
            elif anchor and target.endswith(".md") and anchor not in anchors(target):
                broken.append((os.path.relpath(doc, REPO), link, "no such heading"))
    assert checked > 50 and not broken, broken
