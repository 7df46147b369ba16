#!/usr/bin/env bash
# Sets everything up, then runs the demo: a graph of tens of thousands of Python and native
# tasks computed with the threaded scheduler, with a progress bar, the result and the time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python examples/demo.py "$@"
