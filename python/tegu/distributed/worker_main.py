"""A worker process: ``python -m tegu.distributed.worker_main SCHEDULER_ADDRESS [options]``.

The secret comes from the environment variable TEGU_SECRET (or the file TEGU_SECRET_FILE names).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tegu-worker")
    parser.add_argument("scheduler_address")
    parser.add_argument("--nthreads", type=int, default=1)
    parser.add_argument("--memory-limit", type=int, default=0)
    parser.add_argument("--name", default="")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--listen-address", default=None)
    args = parser.parse_args(argv)

    secret = os.environ.get("TEGU_SECRET")
    if not secret and os.environ.get("TEGU_SECRET_FILE"):
        with open(os.environ["TEGU_SECRET_FILE"]) as f:
            secret = f.read().strip()
    if not secret:
        print("tegu worker: no secret (set TEGU_SECRET or TEGU_SECRET_FILE)", file=sys.stderr)
        return 2

    import tegu.distributed  # noqa: F401 - installs the serializer and the python-task runner
    from tegu import _tegu

    listen = args.listen_address or f"tcp://{args.host}:0"
    try:
        worker = _tegu.WorkerService.start(args.scheduler_address, secret, listen, args.name,
                                           args.nthreads, args.memory_limit)
    except (OSError, ValueError) as e:
        print(f"tegu worker {args.name}: {e}", file=sys.stderr)
        return 1

    def stop(signum, frame):
        worker.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # wait() blocks in C++: run it on a thread so that the main thread can take signals.
    import threading

    box = {}
    t = threading.Thread(target=lambda: box.setdefault("why", worker.wait()), daemon=True)
    t.start()
    while t.is_alive():
        t.join(0.2)
    why = box.get("why", "")
    if why:
        print(f"tegu worker {args.name or worker.address} ended: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
