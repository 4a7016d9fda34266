"""The timeline picture in docs/algorithms.md is the module's own output: this test
replays its traffic on a Valkey server with a manual clock, draws the picture, and
fails if the docs show anything else (the failure prints the picture to paste)."""

import os
import re

from helpers import REPO, T0, check

LIMIT, PERIOD = 4, 10_000  # 4 per 10 seconds; BURST 4 for the bucket algorithms
SECONDS = 21
# A burst of 6 at t=0, then one request a second.
TRAFFIC = [6] + [1] * (SECONDS - 1)
ALGORITHMS = ["TOKEN_BUCKET", "GCRA", "FIXED_WINDOW", "SLIDING_WINDOW", "SLIDING_LOG"]


def draw(admitted):
    cell = "{:>3}".format
    lines = ["time (s)        " + "".join(cell(t) for t in range(SECONDS)),
             "requests        " + "".join(cell(n) for n in TRAFFIC)]
    for a in ALGORITHMS:
        lines.append(f"{a:<16}" + "".join(cell(n if n else ".") for n in admitted[a]))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def test_the_algorithms_timeline_in_the_docs_is_what_the_module_does(clocked):
    c = clocked.client()
    admitted = {a: [] for a in ALGORITHMS}
    for t, n in enumerate(TRAFFIC):
        clocked.set_clock(T0 + t * 1000)
        for a in ALGORITHMS:
            burst = LIMIT if a in ("TOKEN_BUCKET", "GCRA") else None
            admitted[a].append(sum(check(c, f"pic:{a}", a, LIMIT, PERIOD, burst)[0]
                                   for _ in range(n)))
    picture = draw(admitted)
    # Invariants the picture must show, whatever the docs say.
    assert admitted["SLIDING_LOG"][:11] == [4] + [0] * 9 + [1]
    assert all(sum(admitted["SLIDING_LOG"][s:s + 10]) <= LIMIT for s in range(SECONDS))
    assert sum(admitted["FIXED_WINDOW"][:10]) == LIMIT and admitted["FIXED_WINDOW"][10] == 1
    assert admitted["TOKEN_BUCKET"] == admitted["GCRA"]
    with open(os.path.join(REPO, "docs", "algorithms.md")) as f:
        doc = f.read()
    m = re.search(r"<!-- timeline -->\n```text\n(.*?)```\n", doc, re.S)
    assert m, "docs/algorithms.md lacks the <!-- timeline --> block"
    assert m.group(1) == picture, "docs/algorithms.md shows another timeline; the module's:\n" + picture
