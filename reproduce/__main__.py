"""Command line: `python -m reproduce transfer ...` synthesises an image, `... loss ...` scores one.

Every flag is a field of reproduce.run.config.TransferConfig, with its default and help text there."""
import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from reproduce.errors import ReproduceError, run_main
from reproduce.image.convention import preprocess
from reproduce.image.files import resize
from reproduce.network.runtime import configure_runtime, default_device
from reproduce.run.config import TransferConfig, check_inputs, flag
from reproduce.run.prepare import prepare, read_image
from reproduce.run.transfer import TransferInterrupted, run_transfer


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


def add_config_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """One flag per TransferConfig field the command takes. Unset flags stay None, so the
    config's own defaults and rules apply; the help shows those defaults."""
    for f in dataclasses.fields(TransferConfig):
        meta = f.metadata
        if meta["command"] not in ("both", command):
            continue
        required = f.name == "output" and command == "transfer"
        shown = f.default not in (None, (), dataclasses.MISSING) and not required
        kwargs: dict[str, Any] = dict(default=None, required=required, metavar=meta["metavar"],
                      help=meta["help"] + (f" (default: {_shown(f.default)})" if shown else ""))
        if f.name == "styles":
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
    if "styles" in given:
        given["styles"] = tuple(given["styles"])
    return TransferConfig(**given)


def transfer(args: argparse.Namespace) -> None:
    summary = run_transfer(config_of(args))
    L = summary.losses
    print(f"wrote {summary.output}: {summary.iterations} iterations in "
          f"{summary.seconds:.1f} s ({summary.stop}); total {L.total:.6g}, "
          f"content {L.content:.6g}, style {L.style:.6g}" +
          (f", tv {L.tv:.6g}" if L.tv is not None else ""))


def loss(args: argparse.Namespace) -> None:
    config = config_of(args)
    check_inputs(config)
    if not os.path.isfile(args.image):
        raise ReproduceError(f"--image {args.image}: no such image")
    prepared = prepare(config, outputs=False)
    image = resize(read_image(args.image, None, config), prepared.shape)
    L = prepared.objective.values(preprocess(prepared.colour.seen(image), prepared.net.device))
    if args.json:
        print(json.dumps(L.as_dict(), indent=2))
    else:
        print(f"total {L.total:.6g}  content {L.content:.6g}  style {L.style:.6g}  " +
              (f"tv {L.tv:.6g}  " if L.tv is not None else "") +
              "  ".join(f"E[{layer}] {value:.6g}" for layer, value in L.E.items()))


def interrupted_message(interrupt: BaseException) -> str | None:
    """What an interrupted transfer finished, and how to go on from it."""
    summary = interrupt.summary if isinstance(interrupt, TransferInterrupted) else None
    if summary is None:
        return None
    config = summary.config
    log = f" and {config.log}" if config.log else ""
    return (f"stopped after {summary.iterations} of {config.iterations} iterations; wrote "
            f"{summary.output}{log} (marked unfinished). To continue from it: rerun with "
            f"--init {summary.output} --iterations "
            f"{config.iterations - summary.iterations} and another --output")


def main(argv: list[str] | None = None) -> None:
    parser = Parser(prog="python -m reproduce", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    t = commands.add_parser("transfer", help="synthesise an image by L-BFGS-B on the paper's loss")
    add_config_flags(t, "transfer")
    t.set_defaults(run=transfer)
    s = commands.add_parser("loss", help="print the paper's losses of an image")
    add_config_flags(s, "loss")
    s.add_argument("--image", required=True, metavar="X", help="the image to score")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(run=loss)
    args = parser.parse_args(argv)
    configure_runtime(args.device or default_device())
    try:
        args.run(args)
    except KeyboardInterrupt as interrupt:
        message = interrupted_message(interrupt)
        if message:
            print(message, file=sys.stderr)
        raise


if __name__ == "__main__":
    sys.exit(run_main(main))
