"""Spatial control (Gatys et al. 2017): the guided Gram loss against a NumPy writing of it, a mask
of all ones against the paper's E_l, `inside` against a brute-force receptive field and against
the authors' noise probe, growing and eroding against scipy.ndimage, empty regions, and two
regions of two styles each moving towards its own."""
import numpy as np
import pytest
import scipy.ndimage
import torch

from reproduce.errors import ReproduceError
from reproduce.image import preprocess
from reproduce.method.losses import feature_matrix
from reproduce.method.objective import Objective
from reproduce.method.spatial import RegionMasks, carry, grown, guided_style_losses
from reproduce.optim.synthesis import synthesise
from reproduce.run.config import TransferConfig

LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
# the small VGG's geometry, written out: each block's 3×3 convolutions (padding 1) up to the
# layer, then a 2×2 stride-2 pooling (Caffe's ceil mode) between blocks
CONVS_BEFORE = {"conv1_1": [1], "conv2_1": [2, 1], "conv3_1": [2, 2, 1], "conv4_1": [2, 2, 4, 1],
                "conv5_1": [2, 2, 4, 4, 1]}


def config(**changes):
    return TransferConfig(content="c.png", styles=("s.png",), **changes)


def features(net, image):
    with torch.no_grad():
        blobs = net.blobs(image, LAYERS)
    return {l: feature_matrix(blobs[l]) for l in LAYERS}


def noise(shape, seed):
    return torch.from_numpy(np.random.default_rng(seed).normal(0, 60, (1, 3, *shape)))


# --- the loss against its equation -------------------------------------------------------------

def np_guided(F, S, T, U):
    """1/R Σ_r 1/(4N²) Σ(G_r − A_r)², G_r = (F∘T̃_r)(F∘T̃_r)ᵀ/M, A_r the same of S with U_r, each
    mask divided by √mean(mask²)."""
    N = F.shape[0]
    E = []
    for T_r, U_r in zip(T, U):
        T_r, U_r = T_r / np.sqrt(np.mean(T_r ** 2)), U_r / np.sqrt(np.mean(U_r ** 2))
        G = (F * T_r) @ (F * T_r).T / F.shape[1]
        A = (S * U_r) @ (S * U_r).T / S.shape[1]
        E.append(np.sum((G - A) ** 2) / (4 * N ** 2))
    return np.mean(E)


def test_guided_gram_matches_numpy_on_the_small_networks_blobs(net64):
    rng = np.random.default_rng(0)
    content_shape, style_shape = (28, 36), (24, 30)
    S = features(net64, noise(style_shape, 1))
    F = features(net64, noise(content_shape, 2))
    masks = [RegionMasks("a", rng.random(content_shape), 0, rng.random(style_shape)),
             RegionMasks("b", (rng.random(content_shape) > 0.3) * 1.0, 0,
                         (rng.random(style_shape) > 0.6) * 1.0)]
    losses = guided_style_losses(net64, masks, [S], LAYERS, "simple", 0)
    for l in LAYERS:
        T = [carry(net64, m.mask, [l], "simple", 0)[l].numpy().reshape(-1) for m in masks]
        U = [carry(net64, m.style_mask, [l], "simple", 0)[l].numpy().reshape(-1) for m in masks]
        expected = np_guided(F[l].numpy(), S[l].numpy(), T, U)
        assert float(losses[l](F[l])) == pytest.approx(expected, rel=1e-10)


def test_simple_carries_a_mask_as_the_authors_cubic_zoom():
    """scipy.ndimage.zoom, order 3, corner on corner: a linear ramp stays a ramp between the
    same end values at every size."""
    from reproduce.method.spatial import simple
    ramp = np.tile(np.linspace(0, 1, 40), (30, 1))
    small = simple(ramp, (8, 10))
    assert small.shape == (8, 10)
    np.testing.assert_allclose(small[3], np.linspace(0, 1, 10), atol=2e-5)  # edges: the spline's
    assert (small[:, 0], small[:, -1]) == pytest.approx((0, 1), abs=1e-12)  # corners on corners
    assert np.array_equal(simple(np.ones((30, 40)), (8, 10)), np.ones((8, 10)))


def test_a_region_of_all_ones_is_the_papers_loss_exactly(net64):
    """One region, both masks all ones, the painting at the image's size: eq. 4 bit for bit."""
    content, style, x = noise((24, 32), 3), noise((24, 32), 4), noise((24, 32), 5)
    settings = config()
    region = RegionMasks("all", np.ones((24, 32)), 0, np.ones((24, 32)))
    guided = Objective(net64, content, [style], settings, [region])
    paper = Objective(net64, content, [style], settings)
    assert guided.values(x) == paper.values(x)
    _, g1, _ = guided.value_and_grad(x)
    _, g2, _ = paper.value_and_grad(x)
    assert torch.equal(g1, g2)


def test_an_empty_region_is_one_clear_error(net64):
    region = RegionMasks("sky", np.zeros((24, 32)), 0, np.ones((24, 32)))
    with pytest.raises(ReproduceError, match="^region sky is empty at conv1_1"):
        Objective(net64, noise((24, 32), 0), [noise((24, 32), 1)], config(), [region])


# --- inside: the receptive field ----------------------------------------------------------------

def receptive_field(layer, i, j, shape):
    """Rows and columns of the pixels that position (i, j) of `layer` sees, clipped to the
    image: back through each pooling (2i … 2i+1) and each 3×3 convolution (i−1 … i+1)."""
    rows, cols = [i, i], [j, j]
    for b, convs in reversed(list(enumerate(CONVS_BEFORE[layer]))):
        rows, cols = [rows[0] - convs, rows[1] + convs], [cols[0] - convs, cols[1] + convs]
        if b > 0:
            rows, cols = [2 * rows[0], 2 * rows[1] + 1], [2 * cols[0], 2 * cols[1] + 1]
    return (slice(max(rows[0], 0), min(rows[1], shape[0] - 1) + 1),
            slice(max(cols[0], 0), min(cols[1], shape[1] - 1) + 1))


def test_inside_is_the_positions_whose_receptive_field_lies_in_the_region(net64):
    rng = np.random.default_rng(6)
    shape = (83, 91)
    mask = scipy.ndimage.binary_opening(rng.random(shape) > 0.35, np.ones((3, 3))) * 1.0
    mask[3:80, 5:88] = 1.0  # a block larger than conv4_1's receptive field (68 px)
    inside = carry(net64, mask, LAYERS, "inside", 0)
    for l in LAYERS:
        h, w = inside[l].shape
        brute = np.array([[mask[receptive_field(l, i, j, shape)].min() for j in range(w)]
                          for i in range(h)])
        np.testing.assert_array_equal(inside[l].numpy(), brute, err_msg=l)
    assert inside["conv4_1"].sum() > 0


def test_inside_agrees_with_the_authors_noise_probe(net64):
    """The authors find these positions by the network's response: noise outside the region,
    zeros inside, two draws; a position is inside where the two responses agree."""
    mask = np.zeros((40, 48))
    mask[4:36, 6:30] = 1.0
    probes = noise((40, 48), 7).repeat(2, 1, 1, 1) * 0
    probes[0] = noise((40, 48), 8)[0] * torch.from_numpy(1 - mask)
    probes[1] = noise((40, 48), 9)[0] * torch.from_numpy(1 - mask)
    with torch.no_grad():
        blobs = net64.blobs(probes, LAYERS)
    inside = carry(net64, mask, LAYERS, "inside", 0)
    for l in LAYERS:
        spread = (blobs[l][0] - blobs[l][1]).abs().amax(dim=0)
        probe = (spread <= 1e-9 * float(spread.max())).double()
        np.testing.assert_array_equal(inside[l].numpy(), probe.numpy(), err_msg=l)


@pytest.mark.parametrize("k", [1, 2, -1, -2])
def test_growing_and_eroding_against_scipy(k):
    rng = np.random.default_rng(10 + k)
    soft = scipy.ndimage.uniform_filter(rng.random((23, 29)), 5)
    binary = soft >= 0.5
    window = (2 * abs(k) + 1,) * 2
    expected = scipy.ndimage.maximum_filter(binary, window, mode="nearest") if k > 0 else \
        scipy.ndimage.minimum_filter(binary, window, mode="nearest")
    ours = grown(torch.from_numpy(soft), k).numpy()
    np.testing.assert_array_equal(ours, expected * 1.0)
    assert ours.sum() != binary.sum()  # it did grow or erode


# --- two regions, two styles -----------------------------------------------------------------

def test_each_region_moves_towards_its_own_style(net64):
    """Left half from a red painting, right half from a blue one: on the result, each half's
    Gram statistics are nearer its own painting's than the other's, at every style layer."""
    shape = (32, 48)
    rng = np.random.default_rng(11)
    red = np.clip(rng.normal(0, 25, (*shape, 3)) + [200, 60, 40], 0, 255)
    blue = np.clip(rng.normal(0, 60, (*shape, 3)) + [40, 90, 190], 0, 255)
    left = np.zeros(shape)
    left[:, :24] = 1.0
    styles = [preprocess(p).double() for p in (red, blue)]
    regions = [RegionMasks("left", left, 0, np.ones(shape)),
               RegionMasks("right", 1 - left, 1, np.ones(shape))]
    settings = TransferConfig(content="c.png", styles=("a", "b"), alpha=0.0, beta=1.0)
    objective = Objective(net64, None, styles, settings, regions)
    start = torch.from_numpy(np.random.default_rng(12).normal(0, 1, (1, 3, *shape)))
    result = synthesise(objective, start, optimiser="scipy", iterations=40)
    F = features(net64, result.image.double())

    def distance(mask, style):  # each layer's guided E_l of one half against one painting
        return guided_style_losses(net64, [RegionMasks("half", mask, 0, np.ones(shape))],
                                   [features(net64, style)], LAYERS, "simple", 0)

    D = {(half, k): distance(mask, style) for half, mask in (("left", left), ("right", 1 - left))
         for k, style in enumerate(styles)}
    for l in LAYERS:
        assert D["left", 0][l](F[l]) < D["left", 1][l](F[l]), l
        assert D["right", 1][l](F[l]) < D["right", 0][l](F[l]), l
    rgb = result.image[0].numpy()  # BGR minus the mean: blue channel first
    assert rgb[2, :, :24].mean() > rgb[2, :, 24:].mean()  # red on the left
    assert rgb[0, :, 24:].mean() > rgb[0, :, :24].mean()  # blue on the right
