"""The command-line flags of TransferConfig's fields: each field's help, default, choices and
parser come from its definition (reproduce.run.config), for `python -m reproduce` and the
scripts that pass fields on (make_figures.py)."""
import argparse
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from reproduce.run.config import TransferConfig, flag


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, exit code 2 (bad input) as everywhere."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _parser_of(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` as argparse wants it: a ValueError becomes a one-line usage error."""
    def parsed(text: str) -> Any:
        try:
            return parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"cannot read {text!r}") from None
    parsed.__name__ = getattr(parse, "__name__", "value")
    return parsed


def _shown(default: object) -> object:
    return ",".join(map(str, default)) if isinstance(default, tuple) else default


def add_config_flags(parser: argparse.ArgumentParser, command: str,
                     only: Sequence[str] | None = None) -> None:
    """One flag per TransferConfig field the command takes (or the fields `only` names). Unset
    flags stay None, so the config's own defaults and rules apply; the help shows those
    defaults."""
    for f in dataclasses.fields(TransferConfig):
        meta = f.metadata
        if meta["command"] not in ("both", command) or (only is not None and f.name not in only):
            continue
        required = f.name == "output" and command == "transfer"
        shown = f.default not in (None, (), dataclasses.MISSING) and not required
        kwargs: dict[str, Any] = dict(default=None, required=required, metavar=meta["metavar"],
                      help=meta["help"] + (f" (default: {_shown(f.default)})" if shown else ""))
        if meta["repeat"]:
            kwargs.update(action="append")
        elif meta["choices"]:
            kwargs.update(choices=meta["choices"])
        elif meta["parse"]:
            kwargs.update(type=_parser_of(meta["parse"]))
        parser.add_argument(flag(f.name), dest=f.name, **{k: v.replace("%", "%%") if k == "help"
                                                          else v for k, v in kwargs.items()})


def config_of(args: argparse.Namespace) -> TransferConfig:
    """The TransferConfig of the flags given: an unset flag keeps the config's default."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TransferConfig)
             if getattr(args, f.name, None) is not None}
    for name, value in given.items():
        if TransferConfig.__dataclass_fields__[name].metadata["repeat"]:
            given[name] = tuple(value)
    return TransferConfig(**given)
