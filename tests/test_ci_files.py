"""The CI files: GitHub workflows, docker/Dockerfile, ci/install-deps.sh, .ci/run.

What is checked (docs/ci.md):

- every `.github/workflows/*.yml` parses (yaml.safe_load) and has `on`, `jobs`,
  `permissions`, and per job `runs-on`, `steps`, `timeout-minutes`; actions are
  pinned to a major version tag (or a commit); every job installs through
  ci/install-deps.sh and no step runs `apt-get install` itself; a job that runs
  make uploads build/reports/ with `if: always()`; the `check` job's matrix is
  exactly ubuntu-24.04 and ubuntu-24.04-arm and runs `make test` and
  `make check-all-arch` with CI=true; `sanitizers` runs `make check-san`;
- every `make TARGET...` in a workflow `run:` step, in docker/Dockerfile (RUN,
  CMD, ENTRYPOINT) and in .ci/run names a target the Makefile has;
- docker/Dockerfile parses (a small parser: continuations, comments, known
  instructions, the first instruction other than ARG is FROM), its base is a
  pinned Debian 12 image (a dated bookworm tag or a digest), it runs
  ci/install-deps.sh after copying it in, cleans apt's lists, and its default
  command runs `make check-all-arch`; docker/README.md has the two-platform
  `docker buildx build` command;
- ci/install-deps.sh prints a list for this machine, for amd64 and for arm64 (with
  the x86-64 cross compiler), and refuses an unknown architecture.

Make targets are read from make's database (`make -pRrq GOAL`, GOAL a name no
Makefile has), not found by `make -n TARGET`: under -n, make still runs every
recipe line that mentions $(MAKE), and `test` and `check-all-arch` are such
recipes. With a goal that has no rule nothing is run at all, and the database
(the "# Files" section) lists every target, with "# Not a target:" before names
that are only mentioned.

actionlint is not a Debian package: where it is on PATH the workflow test also
runs it and requires it to pass; elsewhere the test prints that it was not run,
and the checks above are the test.

Each check is a function over text, so the last tests feed it broken files (a
floating base image, no install-deps.sh, `make no-such-target`, ...) and require
that it rejects them.
"""

import functools
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile

import pytest

try:
    import yaml
except ImportError:  # reported by need_yaml(): the package list installs python3-yaml
    yaml = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS = sorted(glob.glob(os.path.join(ROOT, ".github", "workflows", "*.yml")))
DOCKERFILE = os.path.join(ROOT, "docker", "Dockerfile")
DOCKER_README = os.path.join(ROOT, "docker", "README.md")
CI_RUN = os.path.join(ROOT, ".ci", "run")
INSTALL_DEPS = os.path.join(ROOT, "ci", "install-deps.sh")
CHECK_OSES = {"ubuntu-24.04", "ubuntu-24.04-arm"}


def need_yaml():
    if yaml is None:
        pytest.fail("python3-yaml is not installed: `bash ci/install-deps.sh` installs it "
                    "(the workflow checks need yaml.safe_load)", pytrace=False)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rel(path):
    return os.path.relpath(path, ROOT)


# ---- shell ----------------------------------------------------------------------

SHELL_OPS = {";", ";;", "&", "&&", "||", "|", "|&", "(", ")", "{", "}", "!"}
SHELL_PREFIXES = {"if", "then", "else", "elif", "while", "until", "do", "time", "exec",
                  "command", "nice", "sudo", "env", "!"}


def simple_commands(script):
    """The simple commands of a shell script, each a list of words (quotes removed,
    nothing expanded): split at ; && || | & ( ) and newlines, without redirections,
    leading VAR=value assignments and prefixes like `then`, `sudo`, `env`."""
    script = re.sub(r"\\\n", " ", script)
    commands = []
    for line in script.splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        try:
            tokens = list(lex)
        except ValueError as e:
            raise ValueError("cannot split shell line %r: %s" % (line, e))
        cur = []
        skip_next = False
        for t in tokens:
            if skip_next:
                skip_next = False
            elif t in SHELL_OPS or (set(t) <= set("();|&") and t):
                commands.append(cur)
                cur = []
            elif set(t) <= set("<>&|") and ("<" in t or ">" in t):
                if cur and cur[-1].isdigit():  # 2>&1: the fd number is no argument
                    cur.pop()
                skip_next = True
            else:
                cur.append(t)
        commands.append(cur)
    out = []
    for c in commands:
        while c and (c[0] in SHELL_PREFIXES or re.match(r"^[A-Za-z_]\w*=", c[0])):
            c = c[1:]
        if c:
            out.append(c)
    return out


MAKE_OPT_ARG = {"-C", "-f", "-o", "-W", "-I", "--directory", "--file", "--makefile",
                "--old-file", "--assume-old", "--new-file", "--assume-new", "--what-if",
                "--include-dir"}
MAKE_OPT_OPTIONAL_NUM = {"-j", "-l", "--jobs", "--load-average", "--max-load"}


def make_call(words):
    """(directory, targets) of a make command, or None if `words` is not one."""
    if os.path.basename(words[0]) not in ("make", "gmake"):
        return None
    directory, targets, i = ".", [], 1
    while i < len(words):
        a = words[i]
        if a == "--":
            targets += [w for w in words[i + 1:] if "=" not in w]
            break
        if a in MAKE_OPT_ARG:
            if a in ("-C", "--directory") and i + 1 < len(words):
                directory = os.path.join(directory, words[i + 1])
            i += 2
            continue
        if a.startswith("--directory="):
            directory = os.path.join(directory, a.split("=", 1)[1])
        elif a.startswith("-C") and not a.startswith("--"):
            directory = os.path.join(directory, a[2:])
        elif a in MAKE_OPT_OPTIONAL_NUM:
            if i + 1 < len(words) and words[i + 1].isdigit():
                i += 1
        elif a.startswith("-") or "=" in a:
            pass  # a flag, or a variable assignment
        else:
            targets.append(a)
        i += 1
    return os.path.normpath(directory), targets


def make_calls_in_shell(script, where):
    """[(where, directory, targets)] for every make command of a shell script.

    A make inside a shell function whose targets are positional parameters ($1,
    "$@") is resolved through the calls of that function in the same script
    (.ci/run's `step test`)."""
    functions, body_of, current = {}, {}, None
    top = []
    for line in re.sub(r"\\\n", " ", script).splitlines():
        m = re.match(r"^\s*(?:function\s+)?([A-Za-z_]\w*)\s*\(\)\s*\{?\s*$", line)
        if m and current is None:
            current = m.group(1)
            functions[current] = []
            continue
        if current is not None and line.strip() == "}":
            current = None
            continue
        (functions[current] if current is not None else top).append(line)
    for name, lines in functions.items():
        body_of[name] = simple_commands("\n".join(lines))
    top_cmds = simple_commands("\n".join(top))

    calls = []
    for words in top_cmds:
        mc = make_call(words)
        if mc:
            calls.append((where, mc[0], mc[1]))
        elif words[0] in body_of:
            args = words[1:]
            for inner in body_of[words[0]]:
                mc = make_call(inner)
                if not mc:
                    continue
                targets = []
                for t in mc[1]:
                    p = re.fullmatch(r"\$\{?(\d)\}?", t)
                    if p:
                        n = int(p.group(1))
                        targets += args[n - 1:n]
                    elif t in ("$@", "$*"):
                        targets += args
                    else:
                        targets.append(t)
                calls.append(("%s (%s %s)" % (where, words[0], " ".join(args)), mc[0], targets))
    return calls


# ---- make -----------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def make_targets(directory):
    """The targets make knows in `directory`, from its database; nothing is run."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKEFILES")}
    goal = "__imago_test_ci_files_no_such_goal__"
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run(["make", "-C", directory, "-pRrq", "BUILD=" + tmp, goal],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env, timeout=120)
    err = "\n".join(line for line in p.stderr.splitlines()
                    if goal not in line and "Entering directory" not in line
                    and "Leaving directory" not in line)
    if "# Make data base" not in p.stdout or err.strip():
        raise AssertionError("make -pRrq in %s did not print its database:\n%s"
                             % (rel(directory), p.stderr))
    targets, in_files, in_define, not_target = set(), False, False, False
    for line in p.stdout.splitlines():
        if line == "# Files":
            in_files = True
            continue
        if line.startswith("# files hash-table stats"):
            in_files = False
            continue
        if not in_files:
            continue
        if re.match(r"^define\s", line):
            in_define = True
        if in_define:
            in_define = line != "endef"
            continue
        if line.startswith("# Not a target:"):
            not_target = True
            continue
        if not line or line.startswith("#") or line.startswith("\t"):
            continue
        m = re.match(r"^([^\s:=#%][^:=]*?)::?(?:\s|$)", line)
        if m and not not_target:
            targets.add(m.group(1))
        not_target = False
    return frozenset(targets)


def make_call_problems(calls):
    problems = []
    for where, directory, targets in calls:
        d = os.path.normpath(os.path.join(ROOT, directory))
        if not any(os.path.exists(os.path.join(d, f))
                   for f in ("GNUmakefile", "makefile", "Makefile")):
            problems.append("%s: make -C %s: no Makefile there" % (where, directory))
            continue
        known = make_targets(d)
        for t in targets:
            if "$" in t:
                problems.append("%s: make target %r cannot be resolved" % (where, t))
            elif t not in known:
                problems.append("%s: make target %r does not exist in %s/Makefile"
                                % (where, t, rel(d)))
    return problems


# ---- workflows ------------------------------------------------------------------

ACTION_PIN = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


def runs_install_deps(script):
    for words in simple_commands(script):
        cmd = words[1:] if words[0] in ("bash", "sh") else words
        if cmd and cmd[0].endswith("ci/install-deps.sh") and "--list" not in cmd:
            return True
    return False


def runs_apt_install(script):
    return any(w[0] in ("apt-get", "apt") and "install" in w[1:] for w in simple_commands(script))


def workflow_problems(text, name):
    """(problems, make calls) of one workflow file's text."""
    need_yaml()
    problems, calls = [], []
    try:
        wf = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return ["%s: not valid YAML: %s" % (name, e)], []
    if not isinstance(wf, dict):
        return ["%s: not a mapping" % name], []
    # YAML 1.1 reads the key `on` as the boolean True.
    on = wf.get("on", wf.get(True))
    if not on:
        problems.append("%s: no `on` (triggers)" % name)
    perms = wf.get("permissions")
    if perms is None:
        problems.append("%s: no top-level `permissions`" % name)
    elif "write" in json.dumps(perms):
        problems.append("%s: permissions grant write: %r" % (name, perms))
    jobs = wf.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        return problems + ["%s: no `jobs`" % name], calls
    for jname, job in jobs.items():
        where = "%s job %s" % (name, jname)
        if not isinstance(job, dict):
            problems.append("%s: not a mapping" % where)
            continue
        if "runs-on" not in job:
            problems.append("%s: no runs-on" % where)
        if "timeout-minutes" not in job:
            problems.append("%s: no timeout-minutes" % where)
        steps = job.get("steps")
        if not isinstance(steps, list) or not steps:
            problems.append("%s: no steps" % where)
            continue
        installs, runs_make, uploads = False, False, []
        wd = ((job.get("defaults") or {}).get("run") or {}).get("working-directory", ".")
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                problems.append("%s step %d: not a mapping" % (where, i + 1))
                continue
            label = "%s step %r" % (where, step.get("name") or step.get("uses") or i + 1)
            uses = step.get("uses")
            if uses is not None:
                if not ACTION_PIN.match(str(uses)):
                    problems.append("%s: action %r is not pinned to a version tag" % (label, uses))
                if str(uses).startswith("actions/upload-artifact@"):
                    uploads.append(step)
            run = step.get("run")
            if run is None:
                continue
            run = str(run)  # `run: true` is read as a boolean
            try:
                if runs_install_deps(run):
                    installs = True
                if runs_apt_install(run):
                    problems.append("%s: runs apt-get install itself; the package list is "
                                    "ci/install-deps.sh" % label)
                found = make_calls_in_shell(run, label)
            except ValueError as e:
                problems.append("%s: %s" % (label, e))
                continue
            step_wd = step.get("working-directory", wd)
            for w, d, t in found:
                calls.append((w, os.path.join(step_wd, d), t))
            runs_make = runs_make or bool(found)
        if not installs:
            problems.append("%s: does not run ci/install-deps.sh" % where)
        if runs_make:
            good = [u for u in uploads
                    if "build/reports" in str((u.get("with") or {}).get("path", ""))
                    and "always()" in str(u.get("if", ""))]
            if not good:
                problems.append("%s: runs make but uploads no build/reports/ with "
                                "`if: always()`" % where)
            if (job.get("strategy") or {}).get("matrix") and not any(
                    "matrix." in str((u.get("with") or {}).get("name", "")) for u in good):
                problems.append("%s: matrix job's artifact name does not include the matrix "
                                "(names would collide)" % where)
    return problems, calls


def job_env(wf, job, step):
    env = dict(wf.get("env") or {})
    env.update(job.get("env") or {})
    env.update(step.get("env") or {})
    return env


def check_job_problems(text, name):
    """The `check` and `sanitizers` jobs of ci.yml."""
    need_yaml()
    wf = yaml.safe_load(text)
    jobs = wf.get("jobs") or {}
    problems = []
    job = jobs.get("check")
    if not job:
        return ["%s: no job `check`" % name]
    oses = ((job.get("strategy") or {}).get("matrix") or {}).get("os")
    if not isinstance(oses, list) or set(oses) != CHECK_OSES or len(oses) != len(CHECK_OSES):
        problems.append("%s job check: matrix os is %r, not exactly %s"
                        % (name, oses, sorted(CHECK_OSES)))
    if str(job.get("runs-on", "")).replace(" ", "") != "${{matrix.os}}":
        problems.append("%s job check: runs-on is %r, not ${{ matrix.os }}"
                        % (name, job.get("runs-on")))
    wanted = {"test", "check-all-arch"}
    for step in job.get("steps") or []:
        for _, _, targets in make_calls_in_shell(str(step.get("run") or ""), "check"):
            for t in set(targets) & wanted:
                if str(job_env(wf, job, step).get("CI", "")).lower() != "true":
                    problems.append("%s job check: make %s runs without CI: true" % (name, t))
                wanted.discard(t)
    if wanted:
        problems.append("%s job check: never runs make %s" % (name, " ".join(sorted(wanted))))
    san = jobs.get("sanitizers")
    if not san:
        problems.append("%s: no job `sanitizers`" % name)
    else:
        targets = [t for s in san.get("steps") or []
                   for _, _, ts in make_calls_in_shell(str(s.get("run") or ""), "sanitizers")
                   for t in ts]
        if "check-san" not in targets:
            problems.append("%s job sanitizers: never runs make check-san" % name)
    return problems


# ---- Dockerfile -----------------------------------------------------------------

DOCKER_INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD",
                       "COPY", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD",
                       "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


class DockerfileError(ValueError):
    pass


def parse_dockerfile(text):
    """[(line, INSTRUCTION, arguments)]: `\\` continues a line, `#` lines are
    comments (also inside a continuation), instructions must be known ones."""
    out, buf, start = [], "", None
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if s.startswith("#") or (not s and not buf):
            continue
        if not s:
            continue  # an empty line inside a continuation
        if start is None:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, args = buf.partition(" ")
        if word.upper() not in DOCKER_INSTRUCTIONS:
            raise DockerfileError("line %d: unknown instruction %r" % (start, word))
        if "<<" in args and word.upper() in ("RUN", "COPY", "ADD"):
            raise DockerfileError("line %d: heredocs are not supported by this check" % start)
        out.append((start, word.upper(), args.strip()))
        buf, start = "", None
    if buf:
        raise DockerfileError("line %d: the file ends inside a continued line" % start)
    if not out:
        raise DockerfileError("no instructions")
    first = next((i for i in out if i[1] != "ARG"), None)
    if first is None or first[1] != "FROM":
        raise DockerfileError("the first instruction other than ARG is %s, not FROM"
                              % (first[1] if first else "missing"))
    return out


def base_image_problem(ref):
    """None if `ref` is a pinned Debian 12 image, else why not."""
    m = re.fullmatch(r"(?:docker\.io/)?(?:library/)?debian"
                     r"(?::(?P<tag>[\w][\w.-]*))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?", ref)
    if not m:
        return "FROM %s: not a debian image pinned by tag or digest" % ref
    tag, digest = m.group("tag"), m.group("digest")
    if tag and not re.match(r"^(bookworm|12)\b", tag):
        return "FROM %s: not Debian 12 (bookworm)" % ref
    if digest:
        return None
    if tag and re.fullmatch(r"bookworm-\d{8}(-slim)?", tag):
        return None
    return ("FROM %s: a floating base image (untagged, latest, bookworm, bookworm-slim, 12...): "
            "pin a dated tag debian:bookworm-YYYYMMDD-slim or a @sha256: digest" % ref)


def exec_or_shell(args):
    """Commands of a RUN/CMD/ENTRYPOINT argument, exec (JSON) or shell form."""
    if args.startswith("["):
        try:
            words = json.loads(args)
            if isinstance(words, list) and all(isinstance(w, str) for w in words):
                if words[:2] in (["sh", "-c"], ["/bin/sh", "-c"], ["bash", "-c"]):
                    return simple_commands(" ".join(words[2:]))
                return [words] if words else []
        except ValueError:
            pass
    return simple_commands(args)


def dockerfile_problems(text, name="docker/Dockerfile"):
    """(problems, make calls) of a Dockerfile's text."""
    try:
        instrs = parse_dockerfile(text)
    except (DockerfileError, ValueError) as e:
        return ["%s: %s" % (name, e)], []
    problems, calls = [], []
    args, stages = {}, set()
    seen_from = False
    for n, ins, a in instrs:
        if ins == "ARG" and not seen_from:
            k, _, v = a.partition("=")
            args[k.strip()] = v.strip().strip('"')
        if ins != "FROM":
            continue
        seen_from = True
        words = [w for w in a.split() if not w.startswith("--")]
        if not words:
            problems.append("%s line %d: FROM without an image" % (name, n))
            continue
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                       lambda m: args.get(m.group(1) or m.group(2), m.group(0)), words[0])
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2])
        if image in stages:
            continue
        if "$" in image:
            problems.append("%s line %d: FROM %s: cannot resolve the build argument"
                            % (name, n, words[0]))
            continue
        p = base_image_problem(image)
        if p:
            problems.append("%s line %d: %s" % (name, n, p))

    copied, installed, cleaned = False, None, False
    cmd, entrypoint = None, None
    for n, ins, a in instrs:
        where = "%s line %d" % (name, n)
        if ins in ("COPY", "ADD"):
            srcs = [w for w in a.split() if not w.startswith("--")][:-1]
            if any(s in (".", "./", "ci", "ci/") or s.endswith("ci/install-deps.sh") for s in srcs):
                copied = True
        elif ins == "RUN":
            try:
                cmds = exec_or_shell(a)
            except ValueError as e:
                problems.append("%s: %s" % (where, e))
                continue
            text_cmds = [" ".join(c) for c in cmds]
            if runs_install_deps("\n".join(text_cmds)):
                if not copied:
                    problems.append("%s: runs ci/install-deps.sh before copying it in" % where)
                installed = n
            if any(c[0] in ("apt-get", "apt") and "install" in c[1:] for c in cmds):
                problems.append("%s: runs apt-get install itself; the package list is "
                                "ci/install-deps.sh" % where)
            if installed and any(c[0] == "rm" and any(w.startswith("/var/lib/apt/lists")
                                                      for w in c) for c in cmds):
                cleaned = True
            for c in cmds:
                mc = make_call(c)
                if mc:
                    calls.append((where, mc[0], mc[1]))
        elif ins == "CMD":
            cmd = (n, a)
        elif ins == "ENTRYPOINT":
            entrypoint = (n, a)
    if not installed:
        problems.append("%s: no RUN runs ci/install-deps.sh (the one package list)" % name)
    elif not cleaned:
        problems.append("%s: apt's lists (/var/lib/apt/lists) are not removed after "
                        "install-deps.sh" % name)
    if not any(ins == "WORKDIR" for _, ins, _ in instrs):
        problems.append("%s: no WORKDIR" % name)
    default = []
    for item in (entrypoint, cmd):
        if item:
            try:
                default += [("%s line %d" % (name, item[0]), c) for c in exec_or_shell(item[1])]
            except ValueError as e:
                problems.append("%s line %d: %s" % (name, item[0], e))
    if entrypoint and cmd and entrypoint[1].startswith("[") and cmd[1].startswith("["):
        default = [("%s line %d" % (name, entrypoint[0]),
                    json.loads(entrypoint[1]) + json.loads(cmd[1]))]
    default_targets = []
    for where, c in default:
        mc = make_call(c)
        if mc:
            calls.append((where, mc[0], mc[1]))
            default_targets += mc[1]
    if "check-all-arch" not in default_targets:
        problems.append("%s: the default command (CMD/ENTRYPOINT) does not run "
                        "make check-all-arch" % name)
    return problems, calls


# ---- install-deps.sh ------------------------------------------------------------

def install_deps(*args):
    return subprocess.run(["bash", INSTALL_DEPS] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def package_list(*args):
    p = install_deps(*args)
    assert p.returncode == 0, "install-deps.sh %s exited %d: %s" % (" ".join(args),
                                                                    p.returncode, p.stderr)
    pkgs = p.stdout.split()
    assert pkgs, "install-deps.sh %s printed no package" % " ".join(args)
    assert len(pkgs) == len(set(pkgs)), "duplicates in %s" % pkgs
    return pkgs


# ---- tests ----------------------------------------------------------------------

def test_yaml_is_installed():
    need_yaml()


def test_workflows_exist():
    assert WORKFLOWS, "no .github/workflows/*.yml"
    assert os.path.join(ROOT, ".github", "workflows", "ci.yml") in WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=[os.path.basename(p) for p in WORKFLOWS])
def test_workflow(path):
    """Structure and make targets of one workflow; actionlint too where installed."""
    problems, calls = workflow_problems(read(path), rel(path))
    problems += make_call_problems(calls)
    assert not problems, "\n".join(problems)
    assert calls, "%s runs no make target at all" % rel(path)
    actionlint = shutil.which("actionlint")
    if actionlint:
        p = subprocess.run([actionlint, path], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        assert p.returncode == 0, "actionlint:\n" + p.stdout
    else:
        print("actionlint is not on PATH: not run on %s (YAML checks only)" % rel(path))


def test_check_and_sanitizer_jobs():
    path = os.path.join(ROOT, ".github", "workflows", "ci.yml")
    problems = check_job_problems(read(path), rel(path))
    assert not problems, "\n".join(problems)


def test_dockerfile():
    problems, calls = dockerfile_problems(read(DOCKERFILE))
    problems += make_call_problems(calls)
    assert not problems, "\n".join(problems)


def test_ci_run_make_targets():
    calls = make_calls_in_shell(read(CI_RUN), ".ci/run")
    targets = {t for _, _, ts in calls for t in ts}
    assert {"test", "check-all-arch"} <= targets, "resolved from .ci/run: %s" % calls
    problems = make_call_problems(calls)
    assert not problems, "\n".join(problems)


def test_docker_readme():
    text = read(DOCKER_README)
    assert re.search(r"docker buildx build --platform linux/amd64,linux/arm64\b", text), \
        "docker/README.md has no `docker buildx build --platform linux/amd64,linux/arm64`"
    assert "imagetools inspect" in text, "docker/README.md does not say how to check the digest"


def test_install_deps_lists():
    here = package_list("--list")
    machine = subprocess.run(["dpkg", "--print-architecture"], stdout=subprocess.PIPE,
                             text=True).stdout.strip()
    if machine in ("amd64", "arm64"):
        assert here == package_list("--arch", machine, "--list")
    amd64 = package_list("--arch", "amd64", "--list")
    arm64 = package_list("--arch", "arm64", "--list")
    common = {"make", "gcc", "binutils", "libc6-dev", "qemu-user", "libunicorn-dev",
              "libcapstone-dev", "llvm", "python3", "python3-pytest", "python3-pytest-xdist",
              "python3-yaml", "strace"}
    cross = {
        "x86_64": {"gcc-x86-64-linux-gnu", "binutils-x86-64-linux-gnu", "libc6-dev-amd64-cross"},
        "i386": {"gcc-i686-linux-gnu", "binutils-i686-linux-gnu", "libc6-dev-i386-cross"},
        "arm": {"gcc-arm-linux-gnueabihf", "binutils-arm-linux-gnueabihf",
                "libc6-dev-armhf-cross"},
        "aarch64": {"gcc-aarch64-linux-gnu", "binutils-aarch64-linux-gnu",
                    "libc6-dev-arm64-cross"},
    }
    for name, pkgs, native in (("amd64", amd64, "x86_64"), ("arm64", arm64, "aarch64")):
        assert common <= set(pkgs), "%s list lacks %s" % (name, common - set(pkgs))
        for target, need in cross.items():
            if target == native:
                assert not need & set(pkgs), "%s list cross-compiles for itself" % name
            else:
                assert need <= set(pkgs), "%s list lacks %s" % (name, need - set(pkgs))


@pytest.mark.parametrize("args", [["--arch", "sparc64", "--list"], ["--arch"], ["--frobnicate"]])
def test_install_deps_refuses(args):
    p = install_deps(*args)
    assert p.returncode != 0, "install-deps.sh %s exited 0" % " ".join(args)
    assert p.stderr.startswith("install-deps: "), p.stderr
    assert p.stdout == ""
    if "sparc64" in args:
        assert "sparc64" in p.stderr and "amd64" in p.stderr and "arm64" in p.stderr


def test_install_deps_is_the_one_list():
    for path in (os.path.join(ROOT, "README.md"), DOCKER_README):
        assert "ci/install-deps.sh" in read(path), "%s does not name ci/install-deps.sh" % rel(path)
    # The workflows and the Dockerfile run it (and no apt-get install of their
    # own): checked by test_workflow and test_dockerfile.


# ---- the checks can fail --------------------------------------------------------

GOOD_WORKFLOW = """
name: t
on: [push]
permissions:
  contents: read
jobs:
  j:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    steps:
      - uses: actions/checkout@v4
      - run: bash ci/install-deps.sh
      - run: make %s
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: r
          path: build/reports/
"""


def test_workflow_checks_reject():
    ok, calls = workflow_problems(GOOD_WORKFLOW % "test", "good.yml")
    assert not ok and not make_call_problems(calls), ok
    _, calls = workflow_problems(GOOD_WORKFLOW % "no-such-target", "bad.yml")
    bad = make_call_problems(calls)
    assert bad and "no-such-target" in bad[0], bad
    # A shell function that runs make "$1" is resolved through its calls.
    fn = make_call_problems(make_calls_in_shell('s() {\n make -k "$1" 2>&1\n}\ns no-such-target\n',
                                                "script"))
    assert fn and "no-such-target" in fn[0], fn
    cases = {
        "no install-deps": (GOOD_WORKFLOW % "test").replace("bash ci/install-deps.sh", "true"),
        "apt-get install": (GOOD_WORKFLOW % "test").replace(
            "bash ci/install-deps.sh", "bash ci/install-deps.sh && sudo apt-get install -y gcc"),
        "no upload": (GOOD_WORKFLOW % "test").replace("if: always()", "if: success()"),
        "unpinned": (GOOD_WORKFLOW % "test").replace("checkout@v4", "checkout@main"),
        "no timeout": (GOOD_WORKFLOW % "test").replace("timeout-minutes: 5", "env: {}"),
        "no steps": "on: push\npermissions: {}\n"
                    "jobs:\n  j:\n    runs-on: x\n    timeout-minutes: 1\n",
        "no on": (GOOD_WORKFLOW % "test").replace("on: [push]", ""),
    }
    for what, text in cases.items():
        problems, _ = workflow_problems(text, what)
        assert problems, "the workflow check accepts a workflow with %s" % what


def test_check_job_checks_reject():
    text = read(os.path.join(ROOT, ".github", "workflows", "ci.yml"))
    no_arm = text.replace("[ubuntu-24.04, ubuntu-24.04-arm]", "[ubuntu-24.04]")
    assert no_arm != text, "ci.yml's matrix is not written as the test expects"
    assert check_job_problems(no_arm, "no-arm")
    no_san = re.sub(r"make check-san", "make test", text)
    assert check_job_problems(no_san, "no-san")


def test_dockerfile_checks_reject():
    good = read(DOCKERFILE)
    m = re.search(r"^ARG BASE_IMAGE=(\S+)$", good, re.M)
    assert m, "docker/Dockerfile has no ARG BASE_IMAGE=... line"
    for base in ("debian:latest", "debian", "debian:bookworm-slim", "debian:bookworm",
                 "debian:12-slim", "ubuntu:24.04", "debian:bullseye-20250929-slim"):
        bad = good.replace(m.group(1), base)
        problems, _ = dockerfile_problems(bad, "FROM " + base)
        assert any("FROM " + base in p for p in problems), \
            "the Dockerfile check accepts FROM %s: %s" % (base, problems)
    direct = good.replace("FROM ${BASE_IMAGE}", "FROM debian:latest")
    assert dockerfile_problems(direct, "direct")[0]
    for base in ("debian:bookworm-20250929-slim", "debian:bookworm-slim@sha256:" + "a" * 64):
        assert base_image_problem(base) is None, base

    no_deps = re.sub(r"RUN bash \S*ci/install-deps\.sh", "RUN true", good)
    assert no_deps != good
    problems, _ = dockerfile_problems(no_deps, "no-deps")
    assert any("install-deps.sh" in p for p in problems), problems
    listing = re.sub(r"(RUN bash \S*ci/install-deps\.sh)", r"\1 --list", good)
    assert any("install-deps.sh" in p for p in dockerfile_problems(listing, "list")[0])
    assert dockerfile_problems(good + "\nRUN apt-get install -y gcc\n", "apt")[0]

    cmd = re.sub(r'^CMD .*$', 'CMD ["make", "test"]', good, flags=re.M)
    assert any("check-all-arch" in p for p in dockerfile_problems(cmd, "cmd")[0])
    _, calls = dockerfile_problems(re.sub(r'^CMD .*$', 'CMD make no-such-target check-all-arch',
                                          good, flags=re.M), "target")
    assert any("no-such-target" in p for p in make_call_problems(calls))

    for text, why in (("RUN true\n", "FROM"), ("FROM debian:latest\nFROBNICATE x\n", "unknown"),
                      ("ARG A=1\nRUN x\nFROM debian\n", "FROM"),
                      ("FROM debian:bookworm-20250929-slim\nRUN a \\\n", "continued")):
        with pytest.raises(DockerfileError, match=why):
            parse_dockerfile(text)
    # Comments inside a continuation are dropped, as docker does.
    parsed = parse_dockerfile("FROM x\nRUN a \\\n# note\n    && b\n")
    assert parsed[-1] == (2, "RUN", "a  && b")
