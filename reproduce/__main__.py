"""Command line: `python -m reproduce transfer ...` synthesises an image, `... loss ...` scores one."""
import argparse
import json
import sys

from reproduce.errors import run_main
from reproduce.image import load_image, resize
from reproduce.network import configure_runtime, default_device, load_network
from reproduce.transfer import (
    CONTENT_LAYERS,
    OPTIMISERS,
    STYLE_LAYERS,
    TransferConfig,
    paper_losses,
    prepare_images,
    run_transfer,
)


def _floats(text):
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, not {text!r}") from None


def _layers(text):
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _add_loss_flags(parser):
    """The flags that define the paper's objective, shared by `transfer` and `loss`."""
    parser.add_argument("--content", metavar="C", help="content image (the photograph)")
    parser.add_argument("--style", metavar="S", action="append", default=[],
                        help="style image (the painting); repeat for several")
    parser.add_argument("--style-blend", metavar="W1,W2", type=_floats,
                        help="blend weights of the style images' Gram targets (normalised)")
    parser.add_argument("--model", metavar="M", default=TransferConfig.model,
                        help="converted VGG-19 network file (default: %(default)s)")
    parser.add_argument("--size", type=int, default=512, help="long side of the content image in "
                        "pixels (default: %(default)s)")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--ratio", type=float, default=1e-3,
                         help="α/β with β = 1e6 (default: %(default)s)")
    weights.add_argument("--alpha", type=float, help="content weight α (eq. 7); 0: pure style")
    parser.add_argument("--beta", type=float, help="style weight β (eq. 7); 0: pure content")
    parser.add_argument("--content-layers", type=_layers, default=CONTENT_LAYERS,
                        help="comma-separated (default: %(default)s)")
    parser.add_argument("--style-layers", type=_layers, default=STYLE_LAYERS,
                        help="comma-separated (default: %(default)s)")
    parser.add_argument("--style-weights", type=_floats, metavar="W1,...",
                        help="w_l per style layer (default: 1 / number of style layers)")
    parser.add_argument("--style-size", choices=("content", "keep"), default="content",
                        help="content: style resized to the content's size (cvpr); keep: own "
                             "aspect at --size (arxiv)")
    parser.add_argument("--pooling", choices=("avg", "max"), default="avg",
                        help="pooling in the network (paper figures: avg)")
    parser.add_argument("--device", default=default_device(),
                        help="cpu or cuda (default: cuda when torch sees one, else cpu)")


def _config(args, **extra):
    if args.beta is not None and args.alpha is None:
        args.alpha = args.ratio * args.beta  # β given with the ratio: α follows from it
    return TransferConfig(
        content=args.content, styles=tuple(args.style), style_blend=args.style_blend,
        model=args.model, size=args.size, ratio=args.ratio, alpha=args.alpha, beta=args.beta,
        content_layers=args.content_layers, style_layers=args.style_layers,
        style_weights=args.style_weights, pooling=args.pooling, device=args.device,
        style_size=args.style_size, **extra)


def transfer(args):
    config = _config(args, output=args.output, init=args.init, iterations=args.iterations,
                     seed=args.seed, save_every=args.save_every, log=args.log,
                     optimiser=args.optimiser)
    summary = run_transfer(config)
    L = summary["losses"]
    print(f"wrote {summary['output']}: {summary['iterations']} iterations in "
          f"{summary['seconds']:.1f} s ({summary['stop']}); total {L['total']:.6g}, "
          f"content {L['content']:.6g}, style {L['style']:.6g}")


def loss(args):
    config = _config(args)
    net = load_network(config.model, pooling=config.pooling, device=config.device)
    content, styles, shape = prepare_images(config)
    image = resize(load_image(args.image), shape)
    L = paper_losses(net, image, content, styles, config)
    if args.json:
        print(json.dumps(L, indent=2))
    else:
        print(f"total {L['total']:.6g}  content {L['content']:.6g}  style {L['style']:.6g}  " +
              "  ".join(f"E[{layer}] {value:.6g}" for layer, value in L["E"].items()))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m reproduce", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("transfer", help="synthesise an image by L-BFGS-B on the paper's loss")
    _add_loss_flags(t)
    t.add_argument("--output", required=True, metavar="OUT.png", help="image to write")
    t.add_argument("--init", default="noise",
                   help="noise (seeded white noise), content, style, or an image path")
    t.add_argument("--iterations", type=int, default=1000, help="L-BFGS-B iterations")
    t.add_argument("--seed", type=int, default=0, help="seed of the white-noise start")
    t.add_argument("--optimiser", choices=OPTIMISERS, default="scipy",
                   help="scipy: scipy's L-BFGS-B, as the authors ran it (default); device: an "
                        "L-BFGS with the same bounds and memory that stays on the device, "
                        "faster on a GPU (docs/performance.md)")
    t.add_argument("--save-every", type=int, default=0, metavar="K",
                   help="also write the current image every K iterations")
    t.add_argument("--log", metavar="LOG.json", help="write parameters and per-iteration losses")
    t.set_defaults(run=transfer)
    s = commands.add_parser("loss", help="print the paper's losses of an image")
    _add_loss_flags(s)
    s.add_argument("--image", required=True, metavar="X", help="the image to score")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(run=loss)
    args = parser.parse_args(argv)
    configure_runtime(args.device)
    args.run(args)


if __name__ == "__main__":
    sys.exit(run_main(main))
