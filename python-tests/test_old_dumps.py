"""DUMP payloads written by the 0.1.0 build (fixtures/dumps-0.1.0.json: type encoding 1,
the version 2 words, captured by fixtures/capture_dumps.py) restore into this build
with every field intact, and are saved again in the compact encoding."""

import json
import os

import pytest

from helpers import HERE, ModuleDump, inspect

with open(os.path.join(HERE, "fixtures", "dumps-0.1.0.json")) as f:
    FIXTURES = json.load(f)["keys"]


def test_fixtures_cover_every_algorithm():
    algorithms = {k["inspect"]["algorithm"] for k in FIXTURES}
    assert algorithms == {"TOKEN_BUCKET", "GCRA", "FIXED_WINDOW", "SLIDING_WINDOW",
                          "SLIDING_LOG", "LEASES"}


@pytest.mark.parametrize("fixture", FIXTURES, ids=[k["key"] for k in FIXTURES])
def test_a_0_1_0_dump_restores_with_every_field_and_is_resaved_compact(server, r, fixture):
    old = bytes.fromhex(fixture["dump"])
    assert ModuleDump.parse(old).encver == 1
    # No TTL: the fixture's own expiry may have passed by the time this runs.
    assert r.restore("k", 0, old) == b"OK"
    info = inspect(r, "k")
    assert {name: info[name] for name in fixture["inspect"]} == fixture["inspect"]
    new = ModuleDump.parse(r.dump("k"))
    assert new.encver == 2 and new.body is not None
    # The compact body holds exactly the old words' value.
    assert new.words == fixture["words"]
    assert len(new.build()) < len(old)
    r.execute_command("DEBUG", "RELOAD")
    assert ModuleDump.parse(r.dump("k")).words == fixture["words"]
    server.assert_healthy()
