"""The split of the conformance suite into N shards (`--shard I/N`, IMAGO_SHARD).

The split is a function of the tests alone, the same on every machine and every
run: the encoding batches of all targets, enumerated in a fixed order
(harness.TARGETS, then batch number), are dealt round-robin (batch k goes to
shard k mod N + 1, so the shards' batch counts differ by at most one); every
other test goes to shard crc32(key) mod N + 1, where the key is its node id
relative to the repository root. Every test is in exactly one shard.
"""

import os
import zlib

USAGE = "--shard I/N (or IMAGO_SHARD=I/N) wants two integers with 1 <= I <= N, e.g. 1/2"


def parse(text):
    """(index, count) from "I/N" (1-based); ValueError with a usage message."""
    parts = str(text).strip().split("/")
    try:
        if len(parts) != 2:
            raise ValueError
        index, count = int(parts[0], 10), int(parts[1], 10)
    except ValueError:
        raise ValueError("bad shard %r: %s" % (text, USAGE)) from None
    if count < 1 or not 1 <= index <= count:
        raise ValueError("bad shard %r: %s" % (text, USAGE))
    return index, count


def name(index, count):
    """The shard's part of file names: "shard-I-of-N"."""
    return "shard-%d-of-%d" % (index, count)


def item_key(path, nodeid, root):
    """A test's key: its file relative to the repository root, then the part of the
    node id after the file ("test_x.py::test_y[params]"), whatever pytest's rootdir
    and whatever suffix xdist adds later."""
    rel = os.path.relpath(str(path), root).replace(os.sep, "/")
    tail = nodeid.split("::", 1)[1] if "::" in nodeid else ""
    return rel + "::" + tail


def shard_of(key, count, batch_position=None):
    """The 1-based shard of a test: encoding batches by their position in the fixed
    enumeration of all batches, other tests by the crc32 of their key."""
    if batch_position is not None:
        return batch_position % count + 1
    return zlib.crc32(key.encode("utf-8")) % count + 1
