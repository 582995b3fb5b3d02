"""The diff metrics on known cases, the report, and the command line as a check."""
import json
import math
import shutil

import numpy as np
import pytest

import reproduce.figures.diff as diff
from reproduce.errors import ReproduceError, run_main
from reproduce.figures.diff import (
    SSIM_K1,
    common_size,
    compare,
    diff_folders,
    psnr,
    side_by_side,
    ssim,
    vgg_distances,
)
from reproduce.image import load_image, save_image
from reproduce.network import load_network
from tests.helpers import ROOT, load_script

PHOTO = ROOT / "data" / "inputs" / "tubingen.jpg"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def net(small_vgg):
    return load_network(small_vgg, pooling="avg")


@pytest.fixture(scope="module")
def photo():
    return load_image(PHOTO, 64)


def shifted(image, pixels):
    return np.roll(image, pixels, axis=1)


def tinted(image, blue):
    return (image * np.float32([1.0, 1.0, blue])).astype(np.float32)


def metrics(net, image, reference):
    return dict(psnr=psnr(image, reference), ssim=ssim(image, reference),
                **vgg_distances(net, image, reference))


def test_psnr_of_a_constant_offset():
    a = np.full((16, 16, 3), 100.0, np.float32)
    assert psnr(a, a + 5) == pytest.approx(20 * math.log10(255 / 5))
    assert psnr(a, a) == math.inf


def test_ssim_of_flat_images_is_the_luminance_term():
    a, b = np.full((16, 16, 3), 100.0), np.full((16, 16, 3), 120.0)
    c1 = (SSIM_K1 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))


def test_ssim_matches_a_direct_sum_over_11x11_gaussian_windows():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, (16, 17, 3))
    b = np.clip(a + rng.normal(0, 40, a.shape), 0, 255)
    g = np.exp(-np.arange(-5, 6) ** 2 / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(5, 16 - 5):
        for j in range(5, 17 - 5):
            for k in range(3):
                x, y = a[i - 5:i + 6, j - 5:j + 6, k], b[i - 5:i + 6, j - 5:j + 6, k]
                mx, my = (w * x).sum(), (w * y).sum()
                vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
                cov = (w * (x - mx) * (y - my)).sum()
                values.append((2 * mx * my + c1) * (2 * cov + c2) /
                              ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    assert ssim(a, b) == pytest.approx(np.mean(values), rel=1e-9)


def test_ssim_is_one_for_identical_images_and_symmetric(photo):
    other = tinted(photo, 0.7)
    assert ssim(photo, photo) == pytest.approx(1.0, abs=1e-12)
    assert ssim(photo, other) == pytest.approx(ssim(other, photo))
    with pytest.raises(ReproduceError, match="larger than 10 px"):
        ssim(photo[:10], photo[:10])


def test_identical_images_are_at_zero_distance(net, photo):
    m = metrics(net, photo, photo)
    assert (m["psnr"], m["ssim"], m["style"], m["content"]) == (math.inf, pytest.approx(1.0), 0, 0)
    assert set(m["E"].values()) == {0}


@pytest.mark.parametrize("change, amounts", [(shifted, (1, 4, 16)), (tinted, (0.9, 0.7, 0.5))])
def test_a_larger_change_is_further_on_every_metric(net, photo, change, amounts):
    series = [metrics(net, change(photo, amount), photo) for amount in amounts]
    for name, sign in (("psnr", -1), ("ssim", -1), ("style", 1), ("content", 1)):
        values = [sign * m[name] for m in series]
        assert values == sorted(values) and len(set(values)) == len(values), name


def test_style_distance_ignores_where_things_are_and_content_distance_does_not(net, photo):
    moved = metrics(net, shifted(photo, 16), photo)
    recoloured = metrics(net, tinted(photo, 0.5), photo)
    assert moved["style"] < recoloured["style"] / 10
    assert moved["content"] > recoloured["content"] * 10


def test_common_size_is_the_smaller_image(photo):
    big = load_image(PHOTO, 96)
    a, b = common_size(big, photo)
    assert a.shape == b.shape == photo.shape


def test_side_by_side_is_result_reference_difference():
    result, reference = np.full((8, 10, 3), 50.0, np.float32), np.full((8, 10, 3), 80.0, np.float32)
    strip = side_by_side(result, reference, gap=2)
    assert strip.shape == (8, 34, 3)
    assert (strip[:, :10] == 50).all() and (strip[:, 12:22] == 80).all()
    assert (strip[:, 24:] == 30).all() and (strip[:, 10:12] == 255).all()


@pytest.fixture
def folders(tmp_path, photo):
    """results/ (same, moved, only_ours) and reference/ (same, moved, only_theirs)."""
    results, reference = tmp_path / "results", tmp_path / "reference"
    for name, ours, theirs in (("same", photo, photo), ("moved", shifted(photo, 8), photo)):
        save_image(results / f"{name}.png", ours)
        save_image(reference / f"{name}.png", theirs)
    save_image(results / "only_ours.png", photo)
    save_image(reference / "only_theirs.jpg", photo)
    return results, reference


def test_report_pairs_by_name(net, small_vgg, folders, tmp_path):
    report = diff_folders(*folders, tmp_path / "report", net, small_vgg, {"style": 1e-6})
    assert list(report["pairs"]) == ["moved", "same"]
    assert report["pairs"]["same"]["psnr"] == math.inf and report["pairs"]["same"]["style"] == 0
    assert report["pairs"]["moved"]["content"] > 0
    assert report["only_in_results"] == ["only_ours"]
    assert report["only_in_reference"] == ["only_theirs"]
    assert [(f["name"], f["metric"]) for f in report["failures"]] == [("moved", "style")]
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["pairs"].keys() == {"moved", "same"}
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| same | 64×48 | inf | 1.000 | 0 | 0 | ![same](same.png) |" in markdown
    assert "Only in the results: only_ours." in markdown and "moved style" in markdown
    assert load_image(tmp_path / "report" / "moved.png").shape == (48, 3 * 64 + 8, 3)


def test_command_line_check(small_vgg, folders, tmp_path, capsys):
    main = load_script("diff_figures").main
    common = [str(f) for f in folders] + ["--model", str(small_vgg), "--out", str(tmp_path / "r")]
    bounds = ["--fail-above", "style=1e30", "--fail-above", "content=1e30"]
    assert run_main(main, common + bounds) == 0
    assert run_main(main, common + ["--fail-above", "content=0"]) == 1
    assert "above bound: moved content" in capsys.readouterr().err



@pytest.mark.parametrize("bound", ["style=nan", "style=inf", "content=-inf", "psnr=30", "style",
                                   "style=abc"])
def test_fail_above_is_checked_before_comparing(folders, tmp_path, capsys, bound):
    main = load_script("diff_figures").main
    argv = [str(f) for f in folders] + ["--model", str(tmp_path / "none.pt"), "--out",
                                        str(tmp_path / "r"), "--fail-above", bound]
    assert run_main(main, argv) == 2  # before the (missing) network is looked at
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--fail-above {bound!r}" in err and "finite" in err
    assert not (tmp_path / "r").exists()


def listing(*folders):
    return {p: p.read_bytes() for folder in folders for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("where", ["results", "reference", "results/report", "reference/a/b",
                                   "."])
def test_out_in_or_around_a_compared_folder_is_refused(small_vgg, folders, tmp_path, capsys,
                                                       where):
    before = listing(tmp_path)
    argv = [str(f) for f in folders] + ["--model", str(small_vgg), "--out", str(tmp_path / where)]
    assert run_main(load_script("diff_figures").main, argv) == 2
    assert "compared folder" in capsys.readouterr().err
    assert listing(tmp_path) == before and not (tmp_path / "results" / "report").exists()


def test_out_holding_other_files_is_refused(small_vgg, folders, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    argv = [str(f) for f in folders] + ["--model", str(small_vgg), "--out", str(tmp_path / "mine")]
    assert run_main(load_script("diff_figures").main, argv) == 2
    assert "not a report" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_report_is_replaced_as_one_set(net, small_vgg, folders, tmp_path, monkeypatch):
    out = tmp_path / "report"
    diff_folders(*folders, out, net, small_vgg)
    before = listing(out)
    calls = []

    def fail_second(*args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C half-way through the comparisons
        return compare(*args)

    monkeypatch.setattr(diff, "compare", fail_second)
    with pytest.raises(KeyboardInterrupt):
        diff_folders(*folders, out, net, small_vgg)
    assert listing(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference", "report", "results"]
    monkeypatch.undo()
    save_image(folders[1] / "moved.png", shifted(load_image(folders[1] / "moved.png"), 4))
    diff_folders(*folders, out, net, small_vgg)
    assert listing(out) != before
    assert sorted(p.name for p in out.iterdir()) == ["moved.png", "report.json", "report.md",
                                                     "same.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference", "report", "results"]


def test_command_line_errors_write_no_report(small_vgg, folders, tmp_path, capsys):
    main = load_script("diff_figures").main
    results, reference = folders

    def argv(reference, model):
        return [str(results), str(reference), "--model", str(model), "--out", str(tmp_path / "r")]

    assert run_main(main, argv(reference, tmp_path / "none.pt")) == 2
    assert "scripts/fetch_models.py" in capsys.readouterr().err
    lonely = shutil.copytree(reference, tmp_path / "lonely")
    for path in lonely.iterdir():
        path.rename(path.with_name("x" + path.name))
    assert run_main(main, argv(lonely, small_vgg)) == 2
    assert "no image names in common" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# --- what cannot be compared is named, not silently dropped (the safety issue, item 16) ------

def report_of(tmp_path, results, reference, small_vgg, capsys):
    code = run_main(load_script("diff_figures").main, [str(results), str(reference), "--out",
                                                      str(tmp_path / "report"), "--model",
                                                      str(small_vgg)])
    return code, capsys.readouterr()


def test_a_pair_too_small_is_named_and_the_others_compared(tmp_path, photo, small_vgg, capsys):
    results, reference = tmp_path / "results", tmp_path / "reference"
    for folder in (results, reference):
        folder.mkdir()
        save_image(folder / "big.png", photo)
        save_image(folder / "tiny.png", photo[:8, :8])
    code, out = report_of(tmp_path, results, reference, small_vgg, capsys)
    assert code == 0 and "compared 1 pairs" in out.out
    assert "skipped: tiny: compared at 8×8, smaller than the 11 px SSIM's window needs" in out.err
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert list(report["pairs"]) == ["big"] and "tiny" in report["skipped"]
    assert "tiny skipped:" in (tmp_path / "report" / "report.md").read_text()


def test_another_aspect_ratio_is_noted(tmp_path, photo, small_vgg, capsys):
    results, reference = tmp_path / "results", tmp_path / "reference"
    for folder in (results, reference):
        folder.mkdir()
    save_image(results / "x.png", photo)  # 64×43
    save_image(reference / "x.png", photo[:, :40])
    code, out = report_of(tmp_path, results, reference, small_vgg, capsys)
    assert code == 0 and "note: x: the aspect ratios differ" in out.err
    assert "one was stretched" in json.loads(
        (tmp_path / "report" / "report.json").read_text())["pairs"]["x"]["note"]


def test_two_images_of_one_name_are_refused(tmp_path, photo, small_vgg, capsys):
    results, reference = tmp_path / "results", tmp_path / "reference"
    for folder in (results, reference):
        folder.mkdir()
        save_image(folder / "x.png", photo)
    save_image(results / "x.jpg", photo)
    code, out = report_of(tmp_path, results, reference, small_vgg, capsys)
    assert code == 2 and "x.jpg and x.png have one name" in out.err  # sorted by name
