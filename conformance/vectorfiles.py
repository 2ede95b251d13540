"""The vectors of `imago vectors -a TARGET`, generated once per run and shared
through files (stdlib only).

One file per target, <dir>/<target>.tsv, where <dir> is IMAGO_VECTORS_DIR or
<build>/vectors. Its first line is a header, `#imago-vectors {json}`, with the
key, the command, the number of positive and negative vectors, and the problem
(why the vectors are unusable) or null, and an index: where every INDEX_STEP-th
positive vector starts (offset from the end of the header line, whose length is
`head`, and file line), so a batch is found without reading the lines before it;
the rest is `imago vectors` output exactly as printed, so vectors line N is line
N+1 of the file. The output is checked (every line form<TAB>text<TAB>hex) and
indexed as imago writes it, by a thread reading the pipe.

The key is a hash of the imago binary's contents, the target and
IMAGO_VECTORS_ARGS: a file whose key matches is reused, any other is made
again. Whoever makes a file holds <target>.tsv.lock (flock) while doing so,
writes it to a temporary file and renames it into place, so concurrent runs
never see half a file; readers keep the file they opened, so a later rename
(another run with another binary) does not change what they read.

Under xdist the controller makes the files for all targets at once (one
`imago vectors` process per target, concurrently) before the workers start, and
passes the keys to the workers (conftest.py); a worker that finds no file with
its key makes it itself under the lock. Collection reads only the headers (the
number of batches); a batch's vectors are read when its test runs, so the
vectors of a batch that is not run (another shard, -k) are never read.
"""

import fcntl
import glob
import hashlib
import json
import os
import re
import shlex
import subprocess
import tempfile
import threading

import harness

FORMAT = 2
MAGIC = "#imago-vectors "
TIMEOUT = 1800  # seconds for one `imago vectors` run
INDEX_STEP = 1000  # the header's index: where every INDEX_STEP-th positive vector starts
_HEX_RE = re.compile(r"^(?:[0-9a-f]{2})*$")
# The characters str.strip() strips from ASCII text (_check_output's fast path).
_ASCII_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_HEX_DIGITS = b"0123456789abcdef"

_loaded = {}  # target -> Vectors (per process)
_expected = {}  # target -> key the controller made (set on xdist workers)


def directory():
    return os.path.abspath(os.environ.get("IMAGO_VECTORS_DIR")
                           or os.path.join(harness.BUILD, "vectors"))


def path_for(target):
    return os.path.join(directory(), target + ".tsv")


def extra_args():
    return shlex.split(os.environ.get("IMAGO_VECTORS_ARGS", ""))


def argv_for(target):
    return [harness.IMAGO, "vectors", "-a", target] + extra_args()


def vector_command(target, form, text):
    """A shell command printing the vector line of `form` with `text` (for the
    reproduce lines of failure messages)."""
    awk_str = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
    extra = os.environ.get("IMAGO_VECTORS_ARGS", "")
    return "%s vectors -a %s%s | awk -F'\\t' %s" % (
        harness.rel(harness.IMAGO), target, (" " + extra) if extra else "",
        shlex.quote('$1==%s && $2==%s' % (awk_str(form), awk_str(text))))


def batch_size():
    """Vectors per GNU as batch (IMAGO_BATCH, default 20000)."""
    return int(os.environ.get("IMAGO_BATCH", "20000") or 20000)


def binary_digest():
    """sha256 of the imago binary, or None when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(harness.IMAGO, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def key_for(target, digest):
    text = "\0".join(["imago-vectors", str(FORMAT), digest, target] + extra_args())
    return hashlib.sha256(text.encode()).hexdigest()


def missing_binary():
    if os.path.exists(harness.IMAGO):
        return None
    return "%s does not exist: run `make all` first (or set IMAGO_BIN)" % harness.rel(
        harness.IMAGO)


class Vectors:
    """One target's vectors: counts from the header, contents read on demand."""

    def __init__(self, target, key=None, problem=None, positives=0, negatives=0, f=None,
                 index=None):
        self.target = target
        self.key = key
        self.problem = problem
        self.positives = positives
        self.negatives = negatives
        self._f = f  # binary file object, positioned anywhere
        self._starts = {}  # batch size -> [(offset, file line)] of each batch's first vector
        # [(offset, file line)] of positive vectors 0, INDEX_STEP, 2 * INDEX_STEP, ...
        # (offsets from the start of the file), or None: found by reading the file
        self._index = index

    def nbatches(self, size=None):
        size = size or batch_size()
        return max(1, (self.positives + size - 1) // size)

    def _lines(self, offset, line):
        """(vectors line number, form, text, hex) from a file offset on; `line` is the
        file line at that offset."""
        self._f.seek(offset)
        for raw in self._f:
            n = line - 1  # the header is line 1 of the file
            line += 1
            s = raw.decode("utf-8", "replace").rstrip("\n")
            if not s.strip() or s.startswith("#"):
                continue
            form, text, hexstr = s.split("\t")  # checked when the file was made
            yield n, form, text, hexstr

    def _skip_positives(self, offset, line, k):
        """(offset, file line) of the k-th positive vector from (offset, line) on (0: the
        first there), or None when there are fewer."""
        self._f.seek(offset)
        for raw in self._f:
            if raw.strip() and not raw.startswith(b"#") and not raw.endswith(b"\t\n"):
                if not k:
                    return offset, line
                k -= 1
            offset += len(raw)
            line += 1
        return None

    def _batch_starts(self, size):
        if size not in self._starts:
            starts = []
            if self._index is not None and size >= INDEX_STEP:
                for first in range(0, self.positives, size):
                    q, r = divmod(first, INDEX_STEP)
                    at = self._skip_positives(*self._index[q], r) if r else self._index[q]
                    starts.append(at)
            else:
                self._f.seek(0)
                offset = len(self._f.readline())
                line, count = 2, 0
                for raw in self._f:
                    if raw.strip() and not raw.startswith(b"#") and not raw.endswith(b"\t\n"):
                        if count % size == 0:
                            starts.append((offset, line))
                        count += 1
                    offset += len(raw)
                    line += 1
            self._starts[size] = starts
        return self._starts[size]

    def batch(self, index, size=None):
        """The positive vectors of batch `index`: [(line, form, text, hex)]."""
        size = size or batch_size()
        starts = self._batch_starts(size)
        if index >= len(starts):
            return []
        offset, line = starts[index]
        if index + 1 < len(starts):
            # the lines up to the next batch's first vector, in one read
            self._f.seek(offset)
            block = self._f.read(starts[index + 1][0] - offset)
            out = []
            n = line - 2  # vectors line of the first line read (the header is file line 1)
            for s in block.decode("utf-8", "replace").split("\n"):
                n += 1
                if not s.strip() or s.startswith("#"):
                    continue
                form, text, hexstr = s.split("\t")  # checked when the file was made
                if hexstr:
                    out.append((n, form, text, hexstr))
            if len(out) != size:
                raise RuntimeError("%s: batch %d holds %d vectors, not %d" % (
                    self.target, index, len(out), size))
            return out
        out = []
        for v in self._lines(offset, line):
            if v[3]:
                out.append(v)
                if len(out) == size:
                    break
        return out

    def negative_vectors(self):
        """Every negative vector (empty hex): [(line, form, text, "")]."""
        if not self.negatives:
            return []
        self._f.seek(0)
        offset = len(self._f.readline())
        return [v for v in self._lines(offset, 2) if not v[3]]


def _read_header(f):
    try:
        f.seek(0)
        first = f.readline().decode("utf-8")
        if not first.startswith(MAGIC):
            return None
        h = json.loads(first[len(MAGIC):])
        return h if isinstance(h, dict) and h.get("format") == FORMAT else None
    except (OSError, ValueError):
        return None


def _open(target, key, path):
    """The Vectors of the file at `path` if its header carries `key`, else None."""
    try:
        f = open(path, "rb")
    except OSError:
        return None
    h = _read_header(f)
    if h is None or h.get("key") != key or h.get("target") != target:
        f.close()
        return None
    return Vectors(target, key, h.get("problem"), int(h.get("positives", 0)),
                   int(h.get("negatives", 0)), f, _index_from_header(h))


def _index_from_header(h):
    """The header's index as (offset in the file, file line) pairs, or None."""
    index = h.get("index")
    if not isinstance(index, list) or "head" not in h:
        return None
    head = int(h["head"])
    return [(head + off, line) for off, line in index]


def _check_line(line):
    """None for a comment or an empty line, else (well formed?, positive?)."""
    line = line.rstrip("\n")
    if not line.strip() or line.startswith("#"):
        return None
    fields = line.split("\t")
    if len(fields) != 3 or not fields[0] or not fields[1].strip() \
            or not _HEX_RE.match(fields[2]):
        return False, False
    return True, bool(fields[2])


class _OutputCheck:
    """The check of `imago vectors` output, fed its lines as they come: counts the
    positive and negative vectors, notes malformed lines, and indexes every
    INDEX_STEP-th positive vector ((offset in the output, line; line 1 its first)).
    A line of plain ASCII is checked on its bytes; any other line, and any the byte
    check refuses, by _check_line."""

    def __init__(self):
        self.pos = self.neg = 0
        self.bad = []
        self.index = []
        self.offset = 0
        self.line = 0

    def feed(self, chunk):
        """chunk: whole lines joined by newlines, without the last line's newline."""
        pos, neg, index, offset = self.pos, self.neg, self.index, self.offset
        n = self.line
        for raw in chunk.split(b"\n"):
            n += 1
            start, offset = offset, offset + len(raw) + 1
            if raw[:1] == b"#" or not raw:
                continue
            f = raw.split(b"\t")
            if (len(f) == 3 and f[0] and raw.isascii() and f[1].strip(_ASCII_SPACE)
                    and not len(f[2]) & 1 and not f[2].translate(None, _HEX_DIGITS)):
                if f[2]:
                    if not pos % INDEX_STEP:
                        index.append((start, n))
                    pos += 1
                else:
                    neg += 1
                continue
            r = _check_line(raw.decode("utf-8", "replace"))
            if r is None:
                continue
            if not r[0]:
                self.bad.append("line %d: %r" % (n, raw.decode("utf-8", "replace")))
                continue
            if r[1]:
                if not pos % INDEX_STEP:
                    index.append((start, n))
                pos += 1
            else:
                neg += 1
        self.pos, self.neg, self.offset, self.line = pos, neg, offset, n

    def result(self, argv):
        """(positives, negatives, problem, index or None)."""
        pos, neg, bad = self.pos, self.neg, self.bad
        if bad:
            return pos, neg, ("`%s` printed %d malformed lines (want form<TAB>text<TAB>hex, "
                              "hex lowercase), e.g.:\n  %s" % (harness.shjoin(argv), len(bad),
                                                              "\n  ".join(bad[:10]))), None
        if not pos:
            return pos, neg, "`%s` printed no vectors" % harness.shjoin(argv), None
        return pos, neg, None, self.index


def _check_output(raw_path, argv):
    """(positives, negatives, problem, index) of `imago vectors` output in raw_path
    (_OutputCheck)."""
    with open(raw_path, "rb") as f:
        data = f.read()
    chk = _OutputCheck()
    if data.endswith(b"\n"):
        data = data[:-1]
    if data:
        chk.feed(data)
    return chk.result(argv)


class _Job:
    """One `imago vectors` run writing to a temporary file, under the target's lock."""

    def __init__(self, target, key, path, lock):
        self.target, self.key, self.path, self.lock = target, key, path, lock
        self.argv = argv_for(target)
        self.tmp = "%s.tmp%d" % (path, os.getpid())
        self.raw = self.tmp + ".raw"
        self.problem = None
        self.proc = None
        self.check = _OutputCheck()
        self.pump_error = None
        self.err = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.err,
                                         env=harness.imago_env(),
                                         preexec_fn=harness.no_core_files)
        except OSError as e:
            self.problem = "`%s` failed to run: %s" % (harness.shjoin(self.argv), e)
            return
        # The output is written to the file and checked as it comes, while imago runs.
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self):
        try:
            carry = b""
            with open(self.raw, "wb") as out:
                while True:
                    block = self.proc.stdout.read1(1 << 20)
                    if not block:
                        break
                    out.write(block)
                    cut = block.rfind(b"\n")
                    if cut < 0:
                        carry += block
                        continue
                    self.check.feed(carry + block[:cut])
                    carry = block[cut + 1:]
            if carry:
                self.check.feed(carry)  # a last line without its newline
        except Exception as e:  # noqa: BLE001 (reported by _finish)
            self.pump_error = "reading `%s`'s output failed: %r" % (
                harness.shjoin(self.argv), e)
            try:
                self.proc.stdout.read()
            except (OSError, ValueError):
                pass

    def finish(self):
        """Wait, check the output, rename the file into place and release the lock.
        Returns the Vectors, read from the file written."""
        try:
            return self._finish()
        finally:
            self.lock.close()

    def _finish(self):
        argv, problem = self.argv, self.problem
        pos = neg = 0
        if self.proc is not None:
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problem = "`%s` did not finish in %d s" % (harness.shjoin(argv), TIMEOUT)
            self.pump.join()
            self.proc.stdout.close()
            self.err.seek(0)
            err = self.err.read()
            if problem is None and self.proc.returncode != 0:
                problem = "`%s` exited %d: %s" % (
                    harness.shjoin(argv), self.proc.returncode,
                    err.decode("utf-8", "replace").strip()[-2000:])
            problem = problem or self.pump_error
        self.err.close()
        index = None
        if problem is None:
            pos, neg, problem, index = self.check.result(argv)
        header = {"format": FORMAT, "key": self.key, "target": self.target,
                  "argv": [harness.rel(argv[0])] + argv[1:], "positives": pos,
                  "negatives": neg, "problem": problem}
        if index is not None:
            # offsets from the end of the header line; its line numbers count it
            header["index"] = [[off, line + 1] for off, line in index]
        head_line = (MAGIC + json.dumps(header, sort_keys=True, separators=(",", ":"))
                     + "\n").encode()
        if index is not None:
            header["head"] = len(head_line)
            head_line = (MAGIC + json.dumps(header, sort_keys=True, separators=(",", ":"))
                         + "\n").encode()
            # "head" is the header line's own length: recount it with its digits
            while len(head_line) != header["head"]:
                header["head"] = len(head_line)
                head_line = (MAGIC + json.dumps(header, sort_keys=True, separators=(",", ":"))
                             + "\n").encode()
        with open(self.tmp, "wb") as out:
            out.write(head_line)
            if problem is None:
                with open(self.raw, "rb") as src:
                    last = b"\n"
                    for block in iter(lambda: src.read(1 << 20), b""):
                        out.write(block)
                        last = block[-1:]
                    if last != b"\n":
                        out.write(b"\n")
        try:
            os.unlink(self.raw)
        except OSError:
            pass
        f = open(self.tmp, "rb")  # keep this inode, whatever is renamed over `path` later
        os.replace(self.tmp, self.path)
        return Vectors(self.target, self.key, problem, pos, neg, f,
                       _index_from_header(header) if problem is None else None)


def _usable(v, retry_problem):
    if v is None:
        return False
    if retry_problem and v.problem:
        v._f.close()
        return False
    return True


def _lock_or_reuse(target, key, retry_problem):
    """(Vectors, None) when a file with the key exists, else (None, _Job started
    under the target's lock) or (Vectors with a problem, None)."""
    path = path_for(target)
    v = _open(target, key, path)
    if _usable(v, retry_problem):
        return v, None
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lock = open(path + ".lock", "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    v = _open(target, key, path)  # someone else may have made it while we waited
    if _usable(v, retry_problem):
        lock.close()
        return v, None
    for stale in glob.glob(glob.escape(path) + ".tmp*"):  # left by a killed run
        try:
            os.unlink(stale)
        except OSError:
            pass
    digest = binary_digest()
    if digest is None or key_for(target, digest) != key:
        lock.close()
        return Vectors(target, key, "%s changed during the run (its vectors no longer match "
                       "the ones the run started with)" % harness.rel(harness.IMAGO)), None
    return None, _Job(target, key, path, lock)


def ensure(target, key, retry_problem=False):
    """The vectors of `target` for `key`: from the file, or made under the lock when
    the file is missing or has another key (or, with retry_problem, records a
    failure)."""
    v, job = _lock_or_reuse(target, key, retry_problem)
    return v if job is None else job.finish()


def prepare(targets):
    """Make (or reuse) the files of all targets, the `imago vectors` runs
    concurrently; called once per run by the controller. Returns {target: key, or
    None when there is no binary}."""
    if missing_binary():
        return {t: None for t in targets}
    digest = binary_digest()
    keys = {t: key_for(t, digest) for t in targets}
    jobs = []
    for t in targets:  # locks are taken in a fixed order
        v, job = _lock_or_reuse(t, keys[t], retry_problem=True)
        if job is None:
            _loaded[t] = v
        else:
            jobs.append(job)
    for job in jobs:
        _loaded[job.target] = job.finish()
    return keys


def expect(keys):
    """On an xdist worker: the keys the controller made the files with."""
    _expected.update(keys or {})


def load(target):
    """The Vectors of `target` for this process (cached)."""
    if target not in _loaded:
        problem = missing_binary()
        if problem:
            _loaded[target] = Vectors(target, problem=problem)
        else:
            key = _expected.get(target) or key_for(target, binary_digest() or "")
            _loaded[target] = ensure(target, key)
    return _loaded[target]


def nbatches(target):
    return load(target).nbatches()


def batch_positions():
    """{target: position of its batch 0} in the fixed enumeration of the batches of
    all targets (harness.TARGETS order, then batch order): the shard split."""
    out, pos = {}, 0
    for t in harness.TARGETS:
        out[t] = pos
        pos += nbatches(t)
    return out
