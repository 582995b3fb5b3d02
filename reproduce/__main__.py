"""Command line: `python -m reproduce transfer ...` synthesises an image, `... loss ...` scores one.

Every flag is a field of reproduce.run.config.TransferConfig, with its default and help text there."""
import argparse
import json
import os
import sys

from reproduce.errors import ReproduceError, run_main
from reproduce.image.convention import preprocess
from reproduce.image.files import resize
from reproduce.network.runtime import configure_runtime, default_device
from reproduce.run.config import check_inputs
from reproduce.run.flags import Parser, add_config_flags, config_of
from reproduce.run.prepare import prepare, read_image
from reproduce.run.transfer import TransferInterrupted, run_transfer


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
    if config.pyramid:
        return (f"stopped ({summary.stop}) after {summary.iterations} iterations; wrote "
                f"{summary.output}{log} (marked unfinished, at that stage's size)")
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
