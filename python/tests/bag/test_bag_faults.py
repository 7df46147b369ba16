"""A worker process killed while a bag computes on a cluster: the native text partitions it
held are computed again elsewhere and the answer is exact (as Dask recomputes lost keys)."""
import os
import signal
import sys
import threading
import time
from collections import Counter

import cloudpickle

import tegu.bag as db
from tegu.distributed import Client

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def slow(part):
    time.sleep(0.15)
    return part


def test_worker_killed_during_a_text_pipeline(tmp_path):
    lines = [f"w{i % 7} w{i % 11} line {i}\n" for i in range(4000)]
    for f in range(8):
        (tmp_path / f"{f}.txt").write_text("".join(lines[f::8]), encoding="utf-8")
    words = [w for line in lines for w in line.split()]
    expected = sorted(Counter(words).items())

    with Client(n_workers=2, threads_per_worker=1, processes=True) as client:
        pids = list(client.run(os.getpid).values())
        assert len(pids) == 2
        # Native partitions (read_text, split) pass through a slow Python step, so the
        # computation is still running when one worker dies.
        bag = db.read_text(str(tmp_path / "*.txt")).map_partitions(slow)
        freqs = bag.str.split().flatten().frequencies()
        killer = threading.Timer(0.3, os.kill, (pids[0], signal.SIGKILL))
        killer.start()
        try:
            got = freqs.compute()
        finally:
            killer.join()
        assert sorted(got) == expected
        # the cluster goes on (the killed worker is replaced)
        assert db.read_text(str(tmp_path / "*.txt")).count().compute() == len(lines)
