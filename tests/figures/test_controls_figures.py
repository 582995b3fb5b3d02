"""The 2017 controls paper's figures (Gatys, Ecker, Bethge, Hertzmann & Shechtman, CVPR 2017):
their tables hold the authors' settings, and `all --paper 2017` renders this repository's panels
with the paper's own skipped and grey when --data does not give its images."""
import json

import imageio.v3 as iio
import numpy as np
import pytest

from reproduce.figures import PAPER_FIGURES, PRESETS, figure
from reproduce.figures.tables import Preset
from reproduce.run.regions import Region
from tests.figures.test_figures import TINY, make

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, small_vgg):
    out = tmp_path_factory.mktemp("results")
    assert make("all", "--paper", "2017", "--model", small_vgg, "--out", out, *TINY) == 0
    return out / "2017"


def jobs(name, preset=PRESETS["full"]):
    return {job.name: job.changes for job in figure(name, "2017", preset).jobs}


def test_the_authors_settings():
    """Every panel started from the content image, coarse to fine at 512² then 1024² pixels
    with 500 then 200 iterations (the authors' notebooks), α/β 10⁻³."""
    assert PAPER_FIGURES["2017"] == ("fig2", "fig4", "fig5")
    for name in ("fig2", "fig4"):
        assert {(c["init"], c["ratio"], c["pyramid"], c["pyramid_iterations"])
                for c in jobs(name).values()} == {("content", 1e-3, (512, 1024), (500, 200))}
    spatial = jobs("fig2")
    # Fig. 2 e: each region from Style I's own region, inside, k = 3
    assert spatial["paper_one_style"]["regions"] == (
        Region("sky", "fig2_content_sky", "fig2_style1", "fig2_style1_sky"),
        Region("nosky", "fig2_content_nosky", "fig2_style1", "fig2_style1_nosky"))
    assert (spatial["paper_one_style"]["guide_mode"], spatial["paper_one_style"]["guide_grow"]) \
        == ("inside", 3)
    # Fig. 2 f: the ground from Style I, the sky from Style II, simple, k = 0
    assert spatial["paper_two_styles"]["regions"] == (
        Region("nosky", "fig2_content_nosky", "fig2_style1", "fig2_style1_nosky"),
        Region("sky", "fig2_content_sky", "fig2_style2", "fig2_style2_sky"))
    assert "guide_mode" not in spatial["paper_two_styles"]  # simple, the default
    scale = jobs("fig4")["paper_scale"]
    assert (scale["styles"], scale["fine_style"], scale["fine_iterations"]) == \
        (("fig4_style3",), "fig4_style2", 500)
    runs = jobs("fig5")
    assert [(c["pyramid"], c["pyramid_iterations"]) for c in runs.values()][:3] == \
        [((512,), (500,)), ((1024,), (700,)), ((512, 1024), (500, 200))]


def test_smaller_presets_scale_the_stages_and_carry_masks_simply():
    quick = jobs("fig2", PRESETS["quick"])
    assert {(c["pyramid"], c["pyramid_iterations"]) for c in quick.values()} == \
        {((128, 256), (40, 16))}
    assert "guide_mode" not in quick["paper_one_style"]  # conv5_1 sees 156 px: inside is empty
    assert "simple, as this preset is too small" in figure("fig2", "2017", PRESETS["quick"]).caption
    tiny = jobs("fig5", Preset("quick", 32, 3))
    assert tiny["coarse_to_fine"]["pyramid"] == (32, 64)


def test_all_renders_this_repositorys_panels_and_skips_the_papers(rendered):
    for name, own in (("fig2", ["plain", "two_styles"]), ("fig4", ["coarse", "scale"]),
                      ("fig5", ["small", "large", "coarse_to_fine"])):
        manifest = json.loads((rendered / f"{name}.json").read_text())
        statuses = {e["name"]: e["status"] for e in manifest["panels"]}
        assert {k for k, v in statuses.items() if v == "computed"} == set(own), name
        assert {v for k, v in statuses.items() if k.startswith("paper_")} == {"skipped"}
        assert set(manifest["files"]) == {"png", "pdf", "losses_png", "losses_pdf"}
        png = iio.imread(rendered / f"{name}.png")[..., :3]
        assert (np.abs(png.astype(int) - 204) <= 1).all(axis=-1).mean() > 0.05  # grey panels


def test_the_records_keep_the_stages_and_the_new_style_image(rendered):
    c2f = json.loads((rendered / "fig5" / "coarse_to_fine.json").read_text())
    assert [s["stage"] for s in c2f["stages"]] == [1, 2] and c2f["iterations"] == 3 + 1
    assert c2f["parameters"]["pyramid"] == [32, 64]
    scale = json.loads((rendered / "fig4" / "scale.json").read_text())
    made = rendered / "fig4" / "scale_style.png"
    assert scale["new_style"]["file"] == str(made) and made.is_file()
    assert scale["parameters"]["fine_style"] == "composition_vii"
    spatial = json.loads((rendered / "fig2" / "two_styles.json").read_text())
    assert spatial["parameters"]["regions"] == [["ground", "tubingen_ground", "wheat_field", None],
                                                ["sky", "tubingen_sky", "rhone", None]]
    assert set(spatial["parameters"]["input_sha256"]) == {
        "tubingen", "tubingen_ground", "wheat_field", "tubingen_sky", "rhone"}
