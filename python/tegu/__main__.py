"""``python -m tegu scheduler|worker ...``: the ``tegu`` command."""
import sys

from tegu.cli import main

sys.exit(main())
