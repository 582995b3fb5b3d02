"""Rendered panels against reference images: pixel metrics and the paper's own measures.

Each pair is resized to a common size (the smaller image's) and compared by PSNR, by SSIM
(Wang, Bovik, Sheikh & Simoncelli 2004: Gaussian window σ = 1.5 truncated to 11×11, K1 = 0.01,
K2 = 0.03, per channel, averaged over the positions whose window lies inside the image), and
with the VGG network by the style distance Σ_l w_l E_l (eq. 4–5, the reference as the style
image) and the content distance at conv4_2 (eq. 1, the reference as the content image).

The report (report.md, report.json, one side-by-side PNG per pair) is built in a temporary folder
beside --out and swapped into place as one set; --out may be neither a compared folder, nor
inside one, nor hold one.
"""
import contextlib
import math
import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from reproduce.errors import ReproduceError
from reproduce.files import PathLike, atomic_path, check_writable_folder, file_digest, write_json
from reproduce.image import Array
from reproduce.image.files import image_files, load_image, resize, save_image
from reproduce.method.objective import paper_losses
from reproduce.network.load import Network
from reproduce.run.config import TransferConfig

PEAK = 255.0
SSIM_SIGMA, SSIM_RADIUS = 1.5, 5  # the 11×11 Gaussian window of Wang et al.
SSIM_K1, SSIM_K2 = 0.01, 0.03
METRICS = ("psnr", "ssim", "style", "content")
DISTANCES = ("style", "content")  # the metrics --fail-above may bound


def psnr(a: Array, b: Array, peak: float = PEAK) -> float:
    """Peak signal-to-noise ratio in dB; infinite for identical images."""
    mse = float(np.mean((np.asarray(a, np.float64) - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def ssim(a: Array, b: Array, peak: float = PEAK) -> float:
    """Mean structural similarity of two H×W×3 images (1 for identical images)."""
    if min(a.shape[:2]) <= 2 * SSIM_RADIUS:
        raise ReproduceError(f"SSIM needs images larger than {2 * SSIM_RADIUS} px, "
                             f"not {a.shape[:2]}")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c1, c2 = (SSIM_K1 * peak) ** 2, (SSIM_K2 * peak) ** 2

    def local_mean(x: Array) -> Array:
        return gaussian_filter(x, (SSIM_SIGMA, SSIM_SIGMA, 0), truncate=SSIM_RADIUS / SSIM_SIGMA)

    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mu_a**2
    var_b = local_mean(b * b) - mu_b**2
    cov = local_mean(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / \
        ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    inside = slice(SSIM_RADIUS, -SSIM_RADIUS)
    return float(s[inside, inside].mean())


def common_size(a: Array, b: Array) -> tuple[Array, Array]:
    """Both images at the smaller one's size (by pixel count)."""
    shape = min(a.shape[:2], b.shape[:2], key=lambda hw: hw[0] * hw[1])
    return resize(a, shape), resize(b, shape)


def vgg_distances(net: Network, result: Array, reference: Array) -> dict[str, Any]:
    """The paper's measures between two images of one size, the reference as content and style
    image: style distance Σ w_l E_l over conv1_1 … conv5_1 (w_l = 1/5), content distance at
    conv4_2, and each E_l (the default layers and weights of TransferConfig)."""
    losses = paper_losses(net, result, reference, [reference], TransferConfig())
    return dict(style=losses.style, content=losses.content, E=losses.E)


def side_by_side(result: Array, reference: Array, gap: int = 4) -> Array:
    """result | reference | absolute difference, on one white strip."""
    space = np.full((result.shape[0], gap, 3), 255.0, np.float32)
    return np.concatenate([result, space, reference, space, np.abs(result - reference)], axis=1)


def images_in(folder: PathLike) -> dict[str, pathlib.Path]:
    """{name: path} of the images directly in a folder, by file name without suffix; two images
    of one name (x.jpg beside x.png) are one line: which of them to compare is the user's call."""
    found: dict[str, pathlib.Path] = {}
    for path in image_files(folder):
        if path.stem in found:
            raise ReproduceError(f"{folder}: {found[path.stem].name} and {path.name} have one name; "
                                 "images are paired by name: move one away")
        found[path.stem] = path
    return found


ASPECT_TOLERANCE = 0.01  # a relative difference of width/height that counts as a change


def aspect_note(a_hw: tuple[int, ...], b_hw: tuple[int, ...]) -> str | None:
    """A note when two images' aspects differ (comparing at one size then stretches one)."""
    a, b = a_hw[1] / a_hw[0], b_hw[1] / b_hw[0]
    if abs(a - b) <= ASPECT_TOLERANCE * max(a, b):
        return None
    return (f"the aspect ratios differ (result {a_hw[1]}×{a_hw[0]}, reference "
            f"{b_hw[1]}×{b_hw[0]}): one was stretched to compare them")


def parse_bounds(texts: Sequence[str]) -> dict[str, float]:
    """{measure: bound} from --fail-above MEASURE=VALUE texts: a known distance, a finite value."""
    limits = {}
    for text in texts:
        measure, _, value = text.partition("=")
        try:
            limits[measure] = float(value)
        except ValueError:
            limits[measure] = math.nan
        if measure not in DISTANCES or not math.isfinite(limits[measure]):
            raise ReproduceError(f"--fail-above {text!r}: expected MEASURE=VALUE with MEASURE one "
                                 f"of {', '.join(DISTANCES)} and VALUE a finite number")
    return limits


def check_report_folder(out: PathLike, results: PathLike, reference: PathLike) -> None:
    """Fail now unless `out` can take the report without touching what is compared: it may not
    be a compared folder, lie inside one, or hold one, and if it exists it must be empty or an
    earlier report (which the new one replaces)."""
    out = pathlib.Path(out).resolve()
    for folder in map(lambda f: pathlib.Path(f).resolve(), (results, reference)):
        if out == folder or folder in out.parents or out in folder.parents:
            raise ReproduceError(f"--out {out}: is, is inside or holds the compared folder "
                                 f"{folder}; give a separate report folder")
    if out.is_file():
        raise ReproduceError(f"--out {out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "report.json").is_file():
        raise ReproduceError(f"--out {out}: holds files that are not a report of "
                             f"diff_figures.py; give an empty or new folder")
    check_writable_folder(out.parent, "--out")


@contextlib.contextmanager
def report_set(out: PathLike) -> Iterator[pathlib.Path]:
    """Yield a new folder beside `out` to build the report in; on success it replaces `out`
    (an earlier report) as one set, on failure it is removed and `out` is left as it was."""
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = pathlib.Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        yield new
        new.chmod(0o755)  # mkdtemp makes it the owner's alone
        if out.exists():
            old = pathlib.Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old)
            os.replace(new, out)
            shutil.rmtree(old)
        else:
            os.replace(new, out)
    finally:
        shutil.rmtree(new, ignore_errors=True)


def compare(result_path: PathLike, reference_path: PathLike, net: Network,
            image: pathlib.Path) -> dict[str, Any]:
    """The metrics of one pair, with its side-by-side image written to `image`; a note when
    their aspects differ. A pair too small for SSIM is a ReproduceError naming it."""
    loaded = load_image(result_path), load_image(reference_path)
    result, reference = common_size(*loaded)
    if min(result.shape[:2]) <= 2 * SSIM_RADIUS:
        raise ReproduceError(f"{image.stem}: compared at {result.shape[1]}×{result.shape[0]}, "
                             f"smaller than the {2 * SSIM_RADIUS + 1} px SSIM's window needs")
    save_image(image, side_by_side(result, reference))
    return dict(result=str(result_path), reference=str(reference_path), image=image.name,
                size=list(result.shape[:2]), psnr=psnr(result, reference),
                ssim=ssim(result, reference), note=aspect_note(*(x.shape[:2] for x in loaded)),
                **vgg_distances(net, result, reference))


def diff_folders(results: PathLike, reference: PathLike, out: PathLike, net: Network,
                 model: PathLike, limits: dict[str, float] | None = None) -> dict[str, Any]:
    """Compare every pair of same-named images; write report.json, report.md and the
    side-by-side images into `out` as one set and return the report. `limits` ({metric: bound})
    lists the pairs above a bound as failures."""
    check_report_folder(out, results, reference)
    ours, theirs = images_in(results), images_in(reference)
    names = [name for name in ours if name in theirs]
    if not names:
        raise ReproduceError(f"no image names in common between {results} and {reference}")
    with report_set(out) as folder:
        return write_report(folder, results, reference, ours, theirs, names, net, model,
                            limits or {})


def write_report(folder: pathlib.Path, results: PathLike, reference: PathLike,
                 ours: dict[str, pathlib.Path], theirs: dict[str, pathlib.Path], names: list[str],
                 net: Network, model: PathLike, limits: dict[str, float]) -> dict[str, Any]:
    """Compare the named pairs and write the report's files into `folder`; a pair that cannot
    be compared is listed as skipped, with why, and the others go on."""
    pairs, skipped = {}, {}
    for name in names:
        try:
            pairs[name] = compare(ours[name], theirs[name], net, folder / f"{name}.png")
        except ReproduceError as e:
            skipped[name] = str(e)
    if not pairs:
        raise ReproduceError(f"no pair could be compared: {'; '.join(skipped.values())}")
    failures = [dict(name=name, metric=m, value=pairs[name][m], limit=bound)
                for name in names for m, bound in limits.items() if pairs[name][m] > bound]
    report = dict(results=str(results), reference=str(reference), model=str(model),
                  model_sha256=file_digest(model), pairs=pairs, skipped=skipped, limits=limits,
                  failures=failures,
                  only_in_results=sorted(set(ours) - set(theirs)),
                  only_in_reference=sorted(set(theirs) - set(ours)))
    finite = {name: dict(pair, psnr=None if math.isinf(pair["psnr"]) else pair["psnr"])
              for name, pair in pairs.items()}
    write_json(folder / "report.json", dict(report, pairs=finite))  # JSON has no infinity: null
    write_markdown(folder / "report.md", report)
    return report


def write_markdown(path: pathlib.Path, report: dict[str, Any]) -> None:
    """The report as a table with each pair's side-by-side image."""
    lines = [f"# {report['results']} against {report['reference']}", "",
             f"Network: `{report['model']}` (sha256 `{report['model_sha256'][:12]}`). Each pair at "
             "the smaller image's size. PSNR in dB (inf: identical; null in report.json); SSIM "
             "with the 11×11 Gaussian window (σ 1.5) of Wang et al. 2004; style = Σ w_l E_l "
             "over conv1_1 … conv5_1 (w_l = 1/5) and content = ½ Σ (F − P)² at conv4_2, the "
             "reference as style and content image (0: identical). Images: result | reference "
             "| absolute difference.", "",
             "| panel | size | PSNR | SSIM | style | content | result / reference / difference |",
             "|---|---|---|---|---|---|---|"]
    for name, pair in report["pairs"].items():
        image = pair["image"]
        lines.append(f"| {name} | {pair['size'][1]}×{pair['size'][0]} | {pair['psnr']:.2f} | "
                     f"{pair['ssim']:.3f} | {pair['style']:.4g} | {pair['content']:.4g} | "
                     f"![{name}]({image}) |")
    notes = [f"{name}: {pair['note']}." for name, pair in report["pairs"].items() if pair["note"]]
    notes += [f"{name} skipped: {why}." for name, why in report["skipped"].items()]
    if notes:
        lines += ["", *notes]
    for key, title in (("only_in_results", "Only in the results"),
                       ("only_in_reference", "Only in the reference")):
        if report[key]:
            lines += ["", f"{title}: {', '.join(report[key])}."]
    if report["limits"]:
        bounds = ", ".join(f"{m} ≤ {v:g}" for m, v in report["limits"].items())
        verdict = "; ".join(f"{f['name']} {f['metric']} {f['value']:.4g} > {f['limit']:g}"
                            for f in report["failures"]) or "all pairs within bounds"
        lines += ["", f"Check ({bounds}): {verdict}."]
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
