"""Bag word-count benchmark: tegu.bag vs dask.bag on about 1 GB of generated text.

Workload (the issue's "read_text(...).str.split().flatten().frequencies().topk(10)", run with
key=1 so that the (word, count) pairs are ranked by their count: the ten commonest words):

  native   read_text(files).str.split().flatten().frequencies().topk(10, key=1)
  python   read_text(files).map(split_words).flatten().frequencies().topk(10, key=1)
           with split_words(line) = line.split(), a user's Python function (no native path
           in Tegu), over the first --python-share of the files (default 1/4)

Data: TEGU_BENCH_BAG_MB MiB (--mb; default 1024, --quick 32) of text in TEGU_BENCH_BAG_FILES
files (--files; default 64, --quick 16), one partition per file (read_text's default
blocksize=None). Lines of 10-15 words drawn with NumPy from a Zipf-like vocabulary of 50,000
words (about 10% with punctuation attached, about 3% with non-ASCII letters), seeded
(--seed). The files are generated once into a cache folder (--data-dir, TEGU_BENCH_DATA_DIR,
default ~/.cache/tegu-bench/bag_wordcount/<size>-<files>-seed<seed>-v<version>) and reused
while its manifest matches; the generator also counts every word, so each answer is checked
against the known top ten (and the systems against each other): a wrong answer stops the
benchmark with an AssertionError. The files are read once before timing, so every system
reads them from the page cache.

Systems, in one run, each on the same files:
  tegu              tegu.bag with its default scheduler (bag.compute(): threads for a bag of
                    native kernels, processes for one running Python code)
  tegu_processes    tegu.bag, compute(scheduler="processes", num_workers=2) (a temporary
                    local cluster of 2 worker processes, started by each compute call)
  tegu_distributed  tegu.distributed LocalCluster(n_workers=2, threads_per_worker=1) + Client
  dask_processes    dask.bag, compute(scheduler="processes", num_workers=2) (Dask's bag default)
  dask_distributed  dask.distributed LocalCluster(n_workers=2, threads_per_worker=1) + Client
A run is the graph construction plus the compute call; the best of --repeats runs is kept (a
run slower than --slow seconds is not repeated). Cluster start-up is not timed; the process
pool of scheduler="processes" is started by each compute call in Dask, so it is. A run still
going after --budget seconds is abandoned and reported as a lower bound. Peak memory is the
sum of the RSS of this process and all its descendants (workers), sampled every 0.1 s.

Ratios are the faster Dask configuration's seconds over Tegu's: above 1, Tegu is faster
(the target for the native workload is 5x). Progress goes to stderr; a table and then one
JSON object (the last line) go to stdout. Exit status 1 when a Tegu run fails.

tegu.bag is assumed to mirror dask.bag: read_text(paths), Bag.str.split(), Bag.map(f),
Bag.flatten(), Bag.frequencies(), Bag.topk(k, key=1) and Bag.compute(scheduler=...) (a Client
accepted as scheduler), returning a list of (word, count) pairs.
"""
import argparse
import gc
import json
import os
import platform
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import OverBudget, log, time_budget  # noqa: E402  (bench/harness.py)

GENERATOR_VERSION = 1
VOCABULARY = 50_000
TOP_K = 10
TARGET_RATIO = 5.0
WORKLOADS = {
    "native": "read_text(files).str.split().flatten().frequencies().topk(10, key=1)",
    "python": "read_text(files).map(split_words).flatten().frequencies().topk(10, key=1)",
}
TOPK_NOTE = ("the issue writes .topk(10); it is run as .topk(10, key=1), which ranks the "
             "(word, count) pairs by count (the ten commonest words)")


def split_words(line):
    """The user's Python function of the `python` workload (Tegu has no native path for it)."""
    return line.split()


def wordcount(bag, files):
    return bag.read_text(files).str.split().flatten().frequencies().topk(TOP_K, key=1)


def wordcount_python(bag, files):
    return bag.read_text(files).map(split_words).flatten().frequencies().topk(TOP_K, key=1)


WORKLOAD_FNS = {"native": wordcount, "python": wordcount_python}


# ---------------------------------------------------------------------------------------------
# Data: generated once, cached, with the exact word counts of every file.

def make_vocabulary(rng, size):
    """`size` distinct words, commonest first (shorter words tend to rank higher): letters
    drawn with English frequencies, ~10% with punctuation attached, ~3% with non-ASCII letters."""
    import numpy as np

    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    freq = np.array([12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4,
                     2.4, 2.2, 2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1])
    freq /= freq.sum()
    non_ascii = list("éèêàâçñüöäßøåœłśźžčřğışαβγδλπσωжщыюяёй") + ["ﬁ", "中", "語", "日"]
    punct_after = list(",,,,...;:!?") + ["'s", ")", "\""]
    punct_before = ["(", "\"", "'"]
    words, seen = [], set()
    while len(words) < size:
        n = size - len(words) + 1000
        lengths = np.clip(rng.poisson(5.0, n) + 1, 1, 16)
        chars = rng.choice(letters, size=int(lengths.sum()), p=freq)
        ends = np.cumsum(lengths)
        kinds = rng.random(n)
        for i, end in enumerate(ends):
            w = "".join(chars[end - lengths[i]:end])
            if kinds[i] < 0.03:  # a non-ASCII letter or two
                pos = rng.integers(0, len(w), size=1 + (kinds[i] < 0.01))
                w = "".join(non_ascii[rng.integers(len(non_ascii))] if j in pos else c
                            for j, c in enumerate(w))
            elif kinds[i] < 0.11:
                w += punct_after[rng.integers(len(punct_after))]
            elif kinds[i] < 0.12:
                w = punct_before[rng.integers(len(punct_before))] + w
            if kinds[i] > 0.5:
                w = w.capitalize() if kinds[i] > 0.97 else w
            if w not in seen:
                seen.add(w)
                words.append(w)
                if len(words) == size:
                    break
    rank_key = np.array([len(w) for w in words]) + rng.normal(0.0, 2.5, size)
    return [words[i] for i in np.argsort(rank_key, kind="stable")]


def generate_file(rng, table, token_bytes, probs, target_bytes):
    """One file of whole lines, at most target_bytes long: returns (bytes, token ids)."""
    import numpy as np

    v = len(probs)
    mean = float(probs @ token_bytes)
    n = int(target_bytes / mean * 1.03) + 64
    words = rng.choice(v, size=n, p=probs)
    line_ends = np.cumsum(rng.integers(10, 16, size=n // 10 + 2))
    line_ends = line_ends[line_ends <= n] - 1  # index of the last word of each line
    is_end = np.zeros(n, dtype=bool)
    is_end[line_ends] = True
    ends_at = np.cumsum(token_bytes[words])  # each word is followed by " " or "\n"
    fitting = line_ends[ends_at[line_ends] <= target_bytes]
    if len(fitting) == 0:
        raise ValueError(f"file size {target_bytes} B is too small for one line")
    keep = fitting[-1] + 1
    tokens = words[:keep] + v * is_end[:keep]
    data = "".join(table[tokens].tolist()).encode("utf-8")
    assert len(data) == ends_at[keep - 1], "generator: byte count mismatch"
    return data, words[:keep], int(is_end[:keep].sum())


def default_data_root():
    if os.environ.get("TEGU_BENCH_DATA_DIR"):
        return Path(os.environ["TEGU_BENCH_DATA_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "tegu-bench" / "bag_wordcount"


def prepare_data(root, mb, n_files, seed):
    """The files of this (size, file count, seed), generated unless the cache holds them.
    Returns (files, manifest, vocabulary, per-file word counts)."""
    import numpy as np

    folder = Path(root) / f"{mb}mib-{n_files}files-seed{seed}-v{GENERATOR_VERSION}"
    spec = {"mib": mb, "files": n_files, "seed": seed, "generator": GENERATOR_VERSION,
            "vocabulary": VOCABULARY}
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
            files = [folder / name for name in manifest["file_names"]]
            if ({k: manifest.get(k) for k in spec} == spec and
                    all(f.is_file() and f.stat().st_size == size
                        for f, size in zip(files, manifest["file_bytes"]))):
                vocab = (folder / "vocabulary.txt").read_text("utf-8").split("\n")[:VOCABULARY]
                counts = np.load(folder / "counts.npy")
                log(f"data: reusing {len(files)} files, {manifest['bytes']} B in {folder}")
                manifest["reused"] = True
                return [str(f) for f in files], manifest, vocab, counts
        except (OSError, ValueError, KeyError) as exc:
            log(f"data: cache in {folder} unusable ({type(exc).__name__}: {exc}); regenerating")
    start = time.perf_counter()
    log(f"data: generating {mb} MiB in {n_files} files into {folder} ...")
    rng = np.random.default_rng(seed)
    vocab = make_vocabulary(rng, VOCABULARY)
    ranks = np.arange(1, VOCABULARY + 1)
    probs = 1.0 / (ranks + 2.7) ** 1.07  # Zipf-Mandelbrot, like word frequencies in prose
    probs /= probs.sum()
    table = np.array([w + " " for w in vocab] + [w + "\n" for w in vocab], dtype=object)
    token_bytes = np.array([len(w.encode("utf-8")) + 1 for w in vocab], dtype=np.int64)
    per_file = mb * 2**20 // n_files
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    names, sizes, lines = [], [], 0
    counts = np.zeros((n_files, VOCABULARY), dtype=np.int64)
    for i in range(n_files):
        data, words, n_lines = generate_file(rng, table, token_bytes, probs, per_file)
        name = f"part-{i:04d}.txt"
        (tmp / name).write_bytes(data)
        counts[i] = np.bincount(words, minlength=VOCABULARY)
        names.append(name)
        sizes.append(len(data))
        lines += n_lines
    (tmp / "vocabulary.txt").write_text("\n".join(vocab), "utf-8")
    np.save(tmp / "counts.npy", counts)
    non_ascii = np.array([not w.isascii() for w in vocab])
    manifest = dict(spec, bytes=sum(sizes), file_names=names, file_bytes=sizes,
                    words=int(counts.sum()), lines=lines,
                    non_ascii_word_share=float(counts[:, non_ascii].sum() / counts.sum()),
                    non_ascii_vocabulary_share=float(non_ascii.mean()))
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    if folder.exists():  # a stale or broken cache of the same name
        import shutil
        shutil.rmtree(folder)
    os.rename(tmp, folder)
    manifest.update(reused=False, generate_s=time.perf_counter() - start)
    log(f"data: {manifest['bytes']} B, {manifest['words']} words, {lines} lines in "
        f"{manifest['generate_s']:.1f} s")
    return [str(folder / n) for n in names], manifest, vocab, counts


def expected_topk(vocab, counts, n_files):
    import numpy as np

    total = counts[:n_files].sum(axis=0)
    order = np.lexsort((np.arange(len(total)), -total))[:TOP_K]
    return [(vocab[i], int(total[i])) for i in order]


def warm_page_cache(files):
    start, n = time.perf_counter(), 0
    for f in files:
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 24):
                n += len(chunk)
    log(f"data: read {n} B once to warm the page cache ({time.perf_counter() - start:.1f} s)")


# ---------------------------------------------------------------------------------------------
# Systems: each a session (context manager) yielding (bag module, compute(bag) -> value).

def _tegu_version():
    import tegu
    return getattr(tegu, "__version__", "unknown")


def default_scheduler_name(bag_module):
    """What a tegu.bag Bag computes with when compute() gets no scheduler (no Client open)."""
    return "default (no scheduler=, no Client): threads for native kernels, processes for Python"


@contextmanager
def tegu_session():
    import tegu.bag as bag
    yield bag, (lambda b: b.compute()), {"version": _tegu_version(),
                                         "scheduler": default_scheduler_name(bag)}


@contextmanager
def tegu_processes_session():
    import tegu.bag as bag
    yield bag, (lambda b: b.compute(scheduler="processes", num_workers=2)), {
        "version": _tegu_version(), "scheduler": "processes, num_workers=2"}


@contextmanager
def tegu_distributed_session():
    import tegu.bag as bag
    from tegu.distributed import Client, LocalCluster
    log("  starting tegu.distributed LocalCluster(n_workers=2, threads_per_worker=1)")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, \
            Client(cluster) as client:
        yield bag, (lambda b: b.compute(scheduler=client)), {
            "version": _tegu_version(),
            "scheduler": "tegu.distributed LocalCluster(n_workers=2, threads_per_worker=1)"}


@contextmanager
def dask_processes_session():
    import dask
    import dask.bag as bag
    yield bag, (lambda b: b.compute(scheduler="processes", num_workers=2)), {
        "version": dask.__version__, "scheduler": "processes, num_workers=2"}


@contextmanager
def dask_distributed_session():
    import dask
    import dask.bag as bag
    from dask.distributed import Client, LocalCluster
    log("  starting dask.distributed LocalCluster(n_workers=2, threads_per_worker=1)")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield bag, (lambda b: b.compute(scheduler=client)), {
            "version": dask.__version__,
            "scheduler": "dask.distributed LocalCluster(n_workers=2, threads_per_worker=1)"}


SYSTEMS = {
    "tegu": tegu_session,
    "tegu_processes": tegu_processes_session,
    "tegu_distributed": tegu_distributed_session,
    "dask_processes": dask_processes_session,
    "dask_distributed": dask_distributed_session,
}
TEGU_SYSTEMS = ("tegu", "tegu_processes", "tegu_distributed")
DASK_SYSTEMS = ("dask_processes", "dask_distributed")


# ---------------------------------------------------------------------------------------------
# Measuring.

class RssPeak:
    """Peak of the summed RSS of this process and its descendants, sampled on a thread."""

    def __init__(self, interval=0.1):
        try:
            import psutil
            self._proc = psutil.Process()
            self._errors = (psutil.Error,)
        except ImportError:
            self._proc = None
        self.interval, self.peak = interval, None
        self._stop = threading.Event()
        self._thread = None

    def sample(self):
        if self._proc is None:
            return None
        total = 0
        try:
            procs = [self._proc] + self._proc.children(recursive=True)
        except self._errors:
            return None
        for p in procs:
            try:
                total += p.memory_info().rss
            except self._errors:
                pass
        return total

    def _loop(self):
        while not self._stop.wait(self.interval):
            self._update()

    def _update(self):
        value = self.sample()
        if value is not None and (self.peak is None or value > self.peak):
            self.peak = value

    def __enter__(self):
        self.baseline = self.sample()
        self.peak = self.baseline
        self._stop = threading.Event()
        if self._proc is not None:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._update()


def normalise(result):
    """[(word, count)] from whatever sequence of pairs a system returns."""
    return [(str(w), int(c)) for w, c in result]


def same_topk(got, expected):
    """Equal, allowing only words tied at the smallest count to differ or swap places."""
    if got == expected:
        return True
    if [c for _, c in got] != [c for _, c in expected]:
        return False
    last = expected[-1][1] if expected else None
    return {p for p in got if p[1] != last} == {p for p in expected if p[1] != last}


def check(got, expected, label):
    if not same_topk(got, expected):
        raise AssertionError(f"{label}: wrong answer:\n  got      {got}\n  expected {expected}")


def measure(name, workload, files, nbytes, words, expected, args):
    """Best-of-repeats seconds of one system on one workload (a session opened once)."""
    log(f"[{name}] {workload}: {len(files)} files, {nbytes} B ...")
    entry = {}
    try:
        with SYSTEMS[name]() as (bag, compute, info):
            entry.update(info)
            runs, peaks, baselines = [], [], []
            while len(runs) < args.repeats:
                gc.collect()
                with RssPeak() as rss, time_budget(args.budget):
                    start = time.perf_counter()
                    result = compute(WORKLOAD_FNS[workload](bag, files))
                    seconds = time.perf_counter() - start
                runs.append(seconds)
                peaks.append(rss.peak)
                baselines.append(rss.baseline)
                result = normalise(result)
                check(result, expected, f"{name} {workload}")
                log(f"    {seconds:.2f} s ({nbytes / seconds / 1e6:.1f} MB/s)")
                if seconds > args.slow:
                    break  # one run this slow is enough
    except AssertionError:
        raise
    except OverBudget:
        entry.update(error=f"over budget ({args.budget:.0f} s)", budget_s=args.budget)
        log(f"    {entry['error']}")
        return entry
    except Exception as exc:  # reported, not fatal: the JSON says what failed
        entry["error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
        log(f"    error: {entry['error']}")
        return entry
    best = min(runs)
    entry.update(seconds=best, runs=runs, mb_per_s=nbytes / best / 1e6,
                 words_per_s=words / best, result=result,
                 peak_rss_bytes=max(peaks) if None not in peaks else None,
                 baseline_rss_bytes=baselines[0])
    return entry


def ratio(dask_entry, tegu_entry):
    """Dask's seconds over Tegu's (above 1: Tegu faster), or a lower bound if Dask timed out."""
    if "seconds" not in tegu_entry:
        return None
    if "seconds" in dask_entry:
        return dask_entry["seconds"] / tegu_entry["seconds"]
    if "budget_s" in dask_entry:
        return {"at_least": dask_entry["budget_s"] / tegu_entry["seconds"]}
    return None


def meets_target(r):
    """Whether a ratio (or its lower bound) reaches the target; None when there is none."""
    if isinstance(r, dict):
        r = r["at_least"]
    return None if r is None else r >= TARGET_RATIO


def faster_dask(results):
    timed = [(results[n]["seconds"], n) for n in DASK_SYSTEMS if "seconds" in results.get(n, {})]
    return min(timed)[1] if timed else None


def fmt_ratio(r):
    if isinstance(r, float):
        return f"{r:.2f}x"
    if isinstance(r, dict):
        return f">{r['at_least']:.1f}x"
    return "-"


def print_section(title, results, ratios, nbytes):
    print(f"\n{title}")
    head = f"{'system':<18} {'seconds':>9} {'MB/s':>8} {'peak RSS MiB':>13}  scheduler"
    print(head + "\n" + "-" * len(head))
    for name, e in results.items():
        if "seconds" in e:
            rss = f"{e['peak_rss_bytes'] / 2**20:.0f}" if e.get("peak_rss_bytes") else "-"
            print(f"{name:<18} {e['seconds']:>9.2f} {e['mb_per_s']:>8.1f} {rss:>13}  "
                  f"{e.get('scheduler', '')}")
        else:
            print(f"{name:<18} {'ERROR':>9} {'-':>8} {'-':>13}  {e.get('error')}")
    for key, r in ratios.items():
        if key != "faster_dask":
            print(f"ratio {key}: {fmt_ratio(r)}  (Dask seconds / Tegu seconds; >1 = Tegu faster)")


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value else default


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small data (32 MiB, 16 files)")
    ap.add_argument("--dask-only", action="store_true", help="skip Tegu (development)")
    ap.add_argument("--mb", type=int, help="MiB of text (TEGU_BENCH_BAG_MB; default 1024)")
    ap.add_argument("--files", type=int, help="number of files (TEGU_BENCH_BAG_FILES; default 64)")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--data-dir", help="cache folder for the generated text "
                                       "(TEGU_BENCH_DATA_DIR; default ~/.cache/tegu-bench/bag_wordcount)")
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help=f"comma-separated subset of {','.join(SYSTEMS)}")
    ap.add_argument("--python-share", type=float, default=0.25,
                    help="share of the files for the Python-function workload (0 skips it)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--slow", type=float, default=20.0,
                    help="stop repeating after a run slower than this many seconds")
    ap.add_argument("--budget", type=float, default=600.0,
                    help="abandon a run after this many seconds")
    args = ap.parse_args()
    mb = args.mb or env_int("TEGU_BENCH_BAG_MB", 32 if args.quick else 1024)
    n_files = args.files or env_int("TEGU_BENCH_BAG_FILES", 16 if args.quick else 64)
    systems = [s for s in args.systems.split(",") if s]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        ap.error(f"unknown systems {unknown}; choose from {list(SYSTEMS)}")
    if args.dask_only:
        systems = [s for s in systems if s not in TEGU_SYSTEMS]

    files, manifest, vocab, counts = prepare_data(args.data_dir or default_data_root(), mb,
                                                  n_files, args.seed)
    warm_page_cache(files)
    expected = expected_topk(vocab, counts, len(files))
    nbytes, words = manifest["bytes"], manifest["words"]
    log(f"expected top {TOP_K}: {expected}")

    results = {s: measure(s, "native", files, nbytes, words, expected, args) for s in systems}
    ratios = {"faster_dask": faster_dask(results)}
    if ratios["faster_dask"]:
        best = results[ratios["faster_dask"]]
        for t in TEGU_SYSTEMS:
            if t in results:
                ratios[f"{t}_vs_faster_dask"] = ratio(best, results[t])
        if "tegu_distributed" in results and "dask_distributed" in results:
            ratios["tegu_distributed_vs_dask_distributed"] = ratio(
                results["dask_distributed"], results["tegu_distributed"])

    python = None
    if args.python_share > 0:
        k = max(1, min(len(files), round(len(files) * args.python_share)))
        sub, sub_bytes = files[:k], sum(manifest["file_bytes"][:k])
        sub_words, sub_expected = int(counts[:k].sum()), expected_topk(vocab, counts, k)
        dask_pick = ratios["faster_dask"] or next((s for s in systems if s in DASK_SYSTEMS), None)
        py_systems = [s for s in systems if s in TEGU_SYSTEMS] + ([dask_pick] if dask_pick else [])
        py_results = {s: measure(s, "python", sub, sub_bytes, sub_words, sub_expected, args)
                      for s in py_systems}
        py_ratios = {"faster_dask": dask_pick}
        for t in TEGU_SYSTEMS:
            if t in py_results and dask_pick:
                py_ratios[f"{t}_vs_{dask_pick}"] = ratio(py_results[dask_pick], py_results[t])
        python = {"workload": WORKLOADS["python"], "share": k / len(files), "files": k,
                  "bytes": sub_bytes, "words": sub_words, "expected_top": sub_expected,
                  "results": py_results, "ratios": py_ratios,
                  "note": f"a user's Python function in map (no native path), on the first {k} "
                          f"of {len(files)} files; Tegu against the faster Dask configuration "
                          "of the native workload"}

    # Every system's answer equals the generator's count, hence each other's.
    print(f"\nBag word count: {nbytes} B ({nbytes / 2**20:.0f} MiB) in {len(files)} files, "
          f"{words} words; {WORKLOADS['native']}")
    print(f"({TOPK_NOTE}; every answer checked against the generator's counts)")
    print(f"top {TOP_K}: {expected}")
    print_section("native workload", results, ratios, nbytes)
    if ratios["faster_dask"]:
        print(f"faster Dask configuration: {ratios['faster_dask']}; target Tegu >= "
              f"{TARGET_RATIO:g}x faster")
    if python:
        print_section(f"python workload: {python['workload']} on {python['files']} files "
                      f"({python['bytes']} B)", python["results"], python["ratios"],
                      python["bytes"])

    report = {
        "benchmark": "bag_wordcount", "quick": args.quick,
        "workload": WORKLOADS["native"], "topk_note": TOPK_NOTE,
        "data": {k: manifest.get(k) for k in ("bytes", "mib", "files", "words", "lines", "seed",
                                              "vocabulary", "non_ascii_word_share",
                                              "non_ascii_vocabulary_share", "reused",
                                              "generate_s")}
                | {"bytes_per_file": max(manifest["file_bytes"])},
        "data_dir": str(Path(files[0]).parent),
        "expected_top": expected,
        "results": results, "ratios": ratios, "target_ratio": TARGET_RATIO,
        "meets_target": meets_target(ratios.get("tegu_vs_faster_dask")),
        "python_map": python,
        "machine": {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
                    "python": platform.python_version(), "platform": platform.platform(),
                    "machine": platform.machine()},
        "dask_version": next((results[s]["version"] for s in DASK_SYSTEMS
                              if "version" in results.get(s, {})), None),
        "tegu_version": next((results[s]["version"] for s in TEGU_SYSTEMS
                              if "version" in results.get(s, {})), None),
    }
    print(json.dumps(report), flush=True)
    tegu_entries = [e for s, e in results.items() if s in TEGU_SYSTEMS]
    tegu_entries += [e for s, e in (python or {}).get("results", {}).items() if s in TEGU_SYSTEMS]
    return 1 if any("error" in e for e in tegu_entries) else 0


if __name__ == "__main__":
    sys.exit(main())
