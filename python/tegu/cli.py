"""The ``tegu`` command: ``tegu scheduler`` and ``tegu worker ADDRESS`` (see ``tegu --help``).

The command line itself is Tegu's C++ one (CLI11); started from Python, its workers also run
Python tasks, because importing ``tegu.distributed`` installs the pickle serializer and the
Python task runner first.
"""
import sys


def main(argv=None):
    import tegu.distributed  # noqa: F401  (installs the Python hooks into the engine)
    from tegu import _tegu

    args = list(sys.argv[1:] if argv is None else argv)
    return _tegu.cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
