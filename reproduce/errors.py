"""The project's user-facing errors, and the one way command-line tools report them."""
import sys


class ReproduceError(ValueError):
    """Bad input (a file, an image, a parameter): the message says what and where, in one line."""


def run_main(main, argv=None):
    """Run a command-line `main(argv)`; a ReproduceError becomes one line on stderr and exit 2."""
    try:
        return main(argv) or 0
    except ReproduceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
