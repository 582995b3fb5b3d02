"""The project's user-facing errors, interrupts, and the one way command-line tools end.

Exit codes, the same in every script: 0 success, 1 a failed comparison (diff_figures.py
--fail-above), 2 bad input (a ReproduceError), 3 an output that could not be written after the
checks (a WriteError: the disk full, the folder made read-only), 128 + the signal when
interrupted: 130 for Ctrl-C (SIGINT), 143 for SIGTERM.
"""
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

EXIT_OK, EXIT_FAILED_COMPARISON, EXIT_BAD_INPUT, EXIT_WRITE_FAILED = 0, 1, 2, 3


class ReproduceError(ValueError):
    """Bad input (a file, an image, a parameter): the message says what and where, in one line.
    Every error a user can cause is one of these (a subclass names the stage or the kind)."""


class WriteError(ReproduceError):
    """An output that could not be written after the checks (the disk full, the folder made
    read-only, ...): one line naming the file and the cause, and where a result went instead."""


class ParameterError(ReproduceError):
    """A parameter's value outside its range or choices; the message names the parameter (the
    configuration's checks name the command-line flag instead)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM: stop, keep what is finished, exit with 128 + the signal.

    A KeyboardInterrupt, so code that stops cleanly on Ctrl-C stops the same way on SIGTERM."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def interrupt_signal(exc: BaseException) -> int:
    """The signal number a KeyboardInterrupt stands for: its own for Interrupted, else SIGINT."""
    return exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def _handled(handler: Callable[[int, FrameType | None], object]) -> Iterator[None]:
    """Within the block, `handler` handles SIGINT and SIGTERM in the main thread, and the
    handlers before it are back afterwards (elsewhere, or outside the main thread, the handlers
    are left as they are)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, before in previous.items():
            signal.signal(s, before)


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise Interrupted in the main thread."""
    with _handled(_raise_interrupted):
        yield


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM wait: when it ends, the first one that came is sent
    again to the handler that was there before. A write is never cut in half, whatever the
    library doing it leaves behind when a KeyboardInterrupt lands inside it (in the main thread;
    elsewhere signals are not delivered to the block anyway)."""
    came: list[int] = []
    try:
        with _handled(lambda signum, frame: came.append(signum)):
            yield
    finally:
        if came:
            signal.raise_signal(came[0])


def run_main(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a command-line `main(argv)` and return its exit code: main's own (0 when it returns
    None), 2 with one line on stderr for a ReproduceError, 130/143 for SIGINT/SIGTERM."""
    try:
        with interrupts_raise():
            return main(argv) or EXIT_OK
    except ReproduceError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_WRITE_FAILED if isinstance(e, WriteError) else EXIT_BAD_INPUT
    except KeyboardInterrupt as e:
        signum = interrupt_signal(e)
        print(f"interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + signum
