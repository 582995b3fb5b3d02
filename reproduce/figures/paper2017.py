"""The controls paper's figures as tables: Gatys, Ecker, Bethge, Hertzmann & Shechtman,
"Controlling Perceptual Factors in Neural Style Transfer" (CVPR 2017): Fig. 2 spatial control,
Fig. 4 scale control, Fig. 5 coarse to fine, set up as the authors' code runs them
(leongatys/NeuralImageSynthesis): every image started from the content image, every panel coarse
to fine (512² then 1024² pixels, 500 then 200 iterations). Each figure shows the paper's own
images, read from --data under the authors' file names, then this repository's version with the
Neckarfront photograph and paintings in the public domain. The weights are the 2015 paper's
(α/β = 10⁻³, w_l = 1/5 with eq. 4), not those of the authors' 2017 code (docs/controls.md).
"""
from typing import Any

from reproduce.figures.tables import PRESETS, Box, Cell, Figure, Job, Preset, version
from reproduce.run.regions import Region

STAGES = (512, 1024)            # the authors' img_size, hr_img_size: squares of the same area
STAGE_ITERATIONS = (500, 200)   # their max_iter, hr_max_iter
RATIO = 1e-3
# `inside` keeps the positions whose receptive field lies inside a region; conv5_1's is 156 px,
# so below about twice that a region has none there: smaller presets carry masks `simple`
INSIDE_SIZE = 320
FIG5_BOX: Box = (0.55, 0.2, 0.8, 0.45)  # the enlarged region (x0, y0, x1, y1), relative


def stages(preset: Preset) -> tuple[tuple[int, int], tuple[int, int]]:
    """The stages' sizes and iterations: the authors' at the full preset; else the preset's
    size and twice it, with its iterations and two fifths of them (as 200 is of 500)."""
    full = PRESETS["full"]
    if (preset.size, preset.iterations) == (full.size, full.iterations):
        return STAGES, STAGE_ITERATIONS
    return (preset.size, 2 * preset.size), (preset.iterations, max(1, 2 * preset.iterations // 5))


def common(preset: Preset) -> dict[str, Any]:
    """What every panel of the paper changes: the start, α/β and the stages."""
    sizes, iterations = stages(preset)
    return dict(init="content", ratio=RATIO, pyramid=sizes, pyramid_iterations=iterations)


def setting_line(preset: Preset) -> str:
    """The caption's setting line: the authors' stages, or a preset that says it is not."""
    (s1, s2), (k1, k2) = stages(preset)
    stated = f"{s1}² then {s2}² pixels, {k1} then {k2} L-BFGS-B iterations"
    if (s1, s2) == STAGES and (k1, k2) == STAGE_ITERATIONS:
        return f"Paper setting: {stated}."
    return (f"{preset.name.capitalize()} preset: {stated}, not the paper's setting "
            f"({STAGES[0]}² then {STAGES[1]}², {STAGE_ITERATIONS[0]} then "
            f"{STAGE_ITERATIONS[1]}).")


COMMON = "All started from the content image, coarse to fine; α/β = 10⁻³."


def spatial(paper: str, preset: Preset) -> Figure:
    """Fig. 2, spatial control: the photograph, two styles, a plain transfer, both regions from
    Style I's own regions, and ground and sky from different styles; then the same with the
    Neckarfront photograph, its sky mask and two van Gogh paintings."""
    base = common(preset)
    one_style = dict(guide_mode="inside", guide_grow=3) if preset.size >= INSIDE_SIZE else {}
    paper_own = (Region("sky", "fig2_content_sky", "fig2_style1", "fig2_style1_sky"),
                 Region("nosky", "fig2_content_nosky", "fig2_style1", "fig2_style1_nosky"))
    paper_two = (Region("nosky", "fig2_content_nosky", "fig2_style1", "fig2_style1_nosky"),
                 Region("sky", "fig2_content_sky", "fig2_style2", "fig2_style2_sky"))
    ours = (Region("ground", "tubingen_ground", "wheat_field"),
            Region("sky", "tubingen_sky", "rhone"))
    rows = (
        (Cell("fig2_content", "a", "fig2_content_sky"), Cell("fig2_style1", "b"),
         Cell("fig2_style2", "c")),
        (Cell(Job("paper_plain", dict(base, content="fig2_content", styles=("fig2_style1",))),
              "d"),
         Cell(Job("paper_one_style", dict(base, content="fig2_content", regions=paper_own,
                                          **one_style)), "e"),
         Cell(Job("paper_two_styles", dict(base, content="fig2_content", regions=paper_two)),
              "f")),
        (Cell("tubingen", "g"), Cell("wheat_field", "h"), Cell("rhone", "i")),
        (Cell("tubingen_sky", "j"), Cell(Job("plain", dict(base, styles=("wheat_field",))), "k"),
         Cell(Job("two_styles", dict(base, regions=ours)), "l")))
    mode = "inside, k = 3" if one_style else "simple, as this preset is too small for inside"
    caption = (f"Figure 2 ({version(paper)}; spatial control). The paper's images (--data): the "
               f"photograph (a) with its sky mask, Style I (b), Style II (c); style transfer with "
               f"Style I (d); each region from Style I's own region (e: guided Gram matrices, "
               f"{mode}); the ground from Style I and the sky from Style II (f). This "
               f"repository's: Neckarfront, Tübingen (g), A Wheatfield, with Cypresses (h) and "
               f"Starry Night over the Rhône (i) by Vincent van Gogh, the sky mask made for it "
               f"(j); style transfer with the Wheatfield (k); the ground from the Wheatfield and "
               f"the sky from the Rhône (l). {COMMON}")
    return Figure("fig2", paper, caption, rows, setting=setting_line(preset))


def scale(paper: str, preset: Preset) -> Figure:
    """Fig. 4, scale control: the photograph, the coarse-scale and the fine-scale paintings, the
    coarse one alone, the new style image (the coarse one's structure, the fine one's texture),
    and the transfer with it; the paper's images, then this repository's."""
    base = common(preset)
    fine = dict(fine_iterations=stages(preset)[1][0])  # as the first stage's, the authors' 500
    rows = []
    for tag, content, coarse, fine_painting, first in (
            ("paper_", "fig4_content", "fig4_style3", "fig4_style2", "a"),
            ("", "tubingen", "starry", "composition_vii", "g")):
        letters = [chr(ord(first) + i) for i in range(6)]
        made = Job(f"{tag}scale", dict(base, content=content, styles=(coarse,),
                                       fine_style=fine_painting, **fine))
        rows += [(Cell(content, letters[0]), Cell(coarse, letters[1], title="coarse scale"),
                  Cell(fine_painting, letters[2], title="fine scale")),
                 (Cell(Job(f"{tag}coarse", dict(base, content=content, styles=(coarse,),
                                                preserve_colour="histogram")), letters[3]),
                  Cell(made, letters[4], part="style"), Cell(made, letters[5]))]
    caption = (f"Figure 4 ({version(paper)}; scale control). The paper's images (--data: "
               f"fig4_content, fig4_style3 for the coarse scale, fig4_style2 for the fine), then "
               f"this repository's: Neckarfront, Tübingen (g), The Starry Night (h, coarse) and "
               f"Composition VII (i, fine). Each: the photograph, the two paintings; style "
               f"transfer with the coarse painting, colour-matched to the photograph (d, j); the "
               f"new style image, synthesised from the coarse painting towards the fine one's "
               f"Gram matrices on conv1_1 and conv2_1, both colour-matched (e, k); style "
               f"transfer with it (f, l). {COMMON}")
    return Figure("fig4", paper, caption, tuple(rows), setting=setting_line(preset))


def coarse_to_fine(paper: str, preset: Preset) -> Figure:
    """Fig. 5, high resolution: one stage at the small size, one at the large, and coarse to
    fine; each whole with a box and the box enlarged below; the paper's images, then this
    repository's."""
    (s1, s2), (k1, k2) = stages(preset)
    runs = (("small", (s1,), (k1,), f"{s1}² px"), ("large", (s2,), (k1 + k2,), f"{s2}² px"),
            ("coarse_to_fine", (s1, s2), (k1, k2), f"{s1}² → {s2}² px"))
    rows = []
    for tag, content, style, first in (("paper_", "fig5_content", "fig5_style1", "a"),
                                       ("", "tubingen", "starry", "d")):
        jobs = [Job(f"{tag}{name}", dict(init="content", ratio=RATIO, content=content,
                                         styles=(style,), pyramid=sizes,
                                         pyramid_iterations=iterations))
                for name, sizes, iterations, _ in runs]
        rows += [tuple(Cell(job, chr(ord(first) + i), style if i == 0 else None, title=title,
                            box=FIG5_BOX) for i, (job, (*_, title)) in enumerate(zip(jobs, runs))),
                 tuple(Cell(job, crop=FIG5_BOX) for job in jobs)]
    caption = (f"Figure 5 ({version(paper)}; high resolution). The paper's images (a–c, --data: "
               f"fig5_content, fig5_style1), then Neckarfront, Tübingen in the style of The "
               f"Starry Night (d–f), the painting inset: one stage at {s1}² pixels ({k1} "
               f"iterations; a, d), one at {s2}² pixels ({k1 + k2}; b, e), and coarse to fine, "
               f"{s1}² then {s2}² pixels ({k1} then {k2}; c, f), each started from the content "
               f"image; below each, its box enlarged. Sizes by area, never above the "
               f"photograph's own; α/β = 10⁻³.")
    return Figure("fig5", paper, caption, tuple(rows), setting=setting_line(preset))
