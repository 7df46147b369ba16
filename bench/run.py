#!/usr/bin/env python3
"""Run a Tegu benchmark in the benchmark virtualenv <repo>/.bench-venv.

    python3 bench/run.py NAME [--quick] [--python PATH] [extra args for the script]

Creates the virtualenv on first use (or when --python names another base
interpreter), installs the pinned Dask, and (re)installs Tegu from this
checkout whenever its sources changed, then runs bench/NAME/bench.py with the
venv's Python (with --dask-only, passed on to the script, Tegu is not
installed). The script's output is streamed unchanged; nothing is printed
after it, so its last line (a JSON object) stays the last line.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
VENV = REPO / ".bench-venv"
REQUIREMENTS = ["dask[array,dataframe]==2026.8.0", "distributed==2026.8.0"]
SOURCE_PATHS = ["include", "src", "python", "CMakeLists.txt", "cmake", "pyproject.toml"]


def log(msg):
    print(f"[bench/run.py] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kwargs):
    """A setup command; its output goes to stderr, stdout is the benchmark's."""
    log("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, stdout=sys.stderr, **kwargs)


def venv_python():
    return VENV / "bin" / "python"


def read_stamp(name):
    path = VENV / name
    return path.read_text().strip() if path.exists() else None


def write_stamp(name, value):
    (VENV / name).write_text(value + "\n")


def ensure_venv(base_python):
    """Create or reuse the venv; install the pinned benchmark requirements."""
    base = shutil.which(base_python) or base_python
    base = str(Path(base).resolve())
    if venv_python().exists() and read_stamp("bench-base-python") not in (None, base):
        log(f"base interpreter changed to {base}: recreating {VENV}")
        shutil.rmtree(VENV)
    if not venv_python().exists():
        run([base, "-m", "venv", VENV])
        write_stamp("bench-base-python", base)
    wanted = " ".join(REQUIREMENTS)
    if read_stamp("bench-requirements") != wanted:
        run([venv_python(), "-m", "pip", "install", "--upgrade", "pip"])
        run([venv_python(), "-m", "pip", "install", *REQUIREMENTS])
        write_stamp("bench-requirements", wanted)


def source_hash():
    """sha256 over the paths and contents of Tegu's sources (tracked files,
    plus untracked files that git does not ignore, so new files count too)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
         "--", *SOURCE_PATHS],
        cwd=REPO, check=True, capture_output=True).stdout
    digest = hashlib.sha256()
    for rel in sorted(set(filter(None, out.split(b"\0")))):
        path = REPO / os.fsdecode(rel)
        if path.is_file():
            data = path.read_bytes()
            digest.update(b"%d:%s\0%d:" % (len(rel), rel, len(data)))
            digest.update(data)
    return digest.hexdigest()


def ensure_tegu():
    """pip install the checkout when its sources differ from the last install."""
    current = source_hash()
    if read_stamp("tegu-source-hash") == current:
        log("tegu is up to date in the benchmark venv")
        return
    env = dict(os.environ, CCACHE_BASEDIR=str(REPO), CCACHE_NOHASHDIR="true")
    if shutil.which("ccache"):
        env.setdefault("CMAKE_C_COMPILER_LAUNCHER", "ccache")
        env.setdefault("CMAKE_CXX_COMPILER_LAUNCHER", "ccache")
    (VENV / "tegu-source-hash").unlink(missing_ok=True)
    run([venv_python(), "-m", "pip", "install", REPO], env=env)
    write_stamp("tegu-source-hash", current)


def main():
    names = sorted(p.parent.name for p in BENCH.glob("*/bench.py"))
    ap = argparse.ArgumentParser(
        description="Run a benchmark from bench/NAME/bench.py in .bench-venv.",
        epilog="Other arguments are passed to the benchmark script. "
               f"Benchmarks: {', '.join(names) or 'none'}.")
    ap.add_argument("name", help="benchmark name (a folder under bench/)")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, for smoke tests (passed to the script)")
    ap.add_argument("--python", default="python3", metavar="PATH",
                    help="base interpreter for the venv (default: python3)")
    args, extra = ap.parse_known_args()

    script = BENCH / args.name / "bench.py"
    if not script.is_file():
        ap.error(f"no benchmark {script.relative_to(REPO)}; available: {', '.join(names)}")
    try:
        ensure_venv(args.python)
        if "--dask-only" not in extra:  # the script will not import Tegu
            ensure_tegu()
    except subprocess.CalledProcessError as exc:
        log(f"setup failed (exit {exc.returncode}): {' '.join(map(str, exc.cmd))}")
        return exc.returncode or 1
    cmd = [str(venv_python()), str(script)] + (["--quick"] if args.quick else []) + extra
    log("$ " + " ".join(cmd))
    sys.stderr.flush()
    return subprocess.run(cmd, cwd=REPO).returncode


if __name__ == "__main__":
    sys.exit(main())
