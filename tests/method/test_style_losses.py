"""The style losses and texture measures (float64): their identities, each against an independent
NumPy writing, their gradients against finite differences, and their frozen randomness."""
import numpy as np
import pytest
import torch

from reproduce.errors import ReproduceError
from reproduce.method import STYLE_LOSSES, style_losses, texture_measures
from reproduce.method.losses import feature_matrix, gram, style_layer_loss
from reproduce.method.style_losses import LOSS_CLASSES, make_style_loss

LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
OPTIONS = dict(c=0.7, seed=5)  # every loss's options; each takes its own


# --- the NumPy reference: the paintings as one weighted sample, every loss written out -----------

def positions(Ss, b):
    """The paintings' positions as the columns of one matrix Y, and each column's weight b_k/M_k."""
    b = np.asarray(b, dtype=np.float64) / np.sum(b)
    q = np.concatenate([np.full(S.shape[1], b_k / S.shape[1]) for b_k, S in zip(b, Ss)])
    return np.concatenate(Ss, axis=1), q


def mmd_b(F, Ss, b, k):
    """MMD²_b between F's positions (weights 1/M) and the paintings' (weights q), from the matrices
    k(X, Y)_ij = k(x_i, y_j) of all pairs."""
    Y, q = positions(Ss, b)
    p = np.full(F.shape[1], 1.0 / F.shape[1])
    return p @ k(F, F) @ p + q @ k(Y, Y) @ q - 2 * p @ k(F, Y) @ q


def np_gram(F, Ss, b, loss):
    N, M = F.shape
    A = sum(b_k / np.sum(b) * S @ S.T for b_k, S in zip(b, Ss))
    return np.sum((np.einsum("ik,jk->ij", F, F) - A) ** 2) / (4.0 * N**2 * M**2)


def np_mmd_linear(F, Ss, b, loss):
    return mmd_b(F, Ss, b, lambda X, Y: X.T @ Y) / (4.0 * F.shape[0] ** 2)


def np_mmd_poly(F, Ss, b, loss):
    return mmd_b(F, Ss, b, lambda X, Y: (X.T @ Y + loss.c) ** 2) / (4.0 * F.shape[0] ** 2)


def np_mmd_gaussian(F, Ss, b, loss):
    (S,) = Ss
    i, i2 = (index.numpy() for index in loss.pairs_F(F.shape[1]))
    j, j2 = (index.numpy() for index in loss.pairs_S)
    sigma2 = np.mean([np.sum((S[:, a] - S[:, a2]) ** 2) for a, a2 in zip(j, j2)])

    def k(u, v):
        return np.exp(-np.sum((u - v) ** 2) / (2 * sigma2))

    x, x2, y, y2 = F[:, i], F[:, i2], S[:, j], S[:, j2]
    h = [k(x[:, p], x2[:, p]) + k(y[:, p], y2[:, p]) - k(x[:, p], y2[:, p]) - k(x2[:, p], y[:, p])
         for p in range(min(len(i), len(j)))]
    return np.mean(h) / (4.0 * F.shape[0])


def np_stats(F, Ss, b, loss):
    Y, q = positions(Ss, b)
    mu = Y @ q
    sigma = np.sqrt(((Y - mu[:, None]) ** 2) @ q)
    return (np.sum((F.mean(axis=1) - mu) ** 2) + np.sum((F.std(axis=1) - sigma) ** 2)) / F.shape[0]


def np_sliced_wasserstein(F, Ss, b, loss):
    Y, q = positions(Ss, b)
    M = F.shape[1]
    E = []
    for v in loss.directions.numpy():
        y = v @ Y
        order = np.argsort(y)
        levels = np.cumsum(q[order]) - q[order] / 2
        target = np.interp((np.arange(M) + 0.5) / M, levels, y[order])
        E.append(np.mean((np.sort(v @ F) - target) ** 2))
    return np.mean(E)


REFERENCES = {
    "gram": np_gram,
    "mmd-linear": np_mmd_linear,
    "mmd-poly": np_mmd_poly,
    "mmd-gaussian": np_mmd_gaussian,
    "stats": np_stats,
    "sliced-wasserstein": np_sliced_wasserstein,
}
BLENDED = [name for name in STYLE_LOSSES if name != "mmd-gaussian"]
SEEDED = [name for name, cls in LOSS_CLASSES.items() if "seed" in cls.options]


# --- cases ------------------------------------------------------------------------------------

def features(rng, N, M):
    """Rectified features with some zeros, as a ReLU's."""
    return np.maximum(rng.standard_normal((N, M)) + 0.5, 0.0)


@pytest.fixture(scope="module")
def blobs(net64):
    """{layer: F} of two noise images of the small VGG, 32×32 (the result) and 40×36 (the painting)."""
    rng = np.random.default_rng(3)
    with torch.no_grad():
        F, S = (net64.blobs(torch.from_numpy(rng.normal(0, 50, (1, 3, *shape))), list(LAYERS))
                for shape in ((32, 32), (40, 36)))
    return ({l: feature_matrix(F[l]) for l in LAYERS}, {l: feature_matrix(S[l]) for l in LAYERS})


def cases(request):
    """(F, S) pairs: random with equal and unequal M, and the small network's blobs at each layer."""
    rng = np.random.default_rng(0)
    t = torch.from_numpy
    pairs = [(t(features(rng, 5, 24)), t(features(rng, 5, 24))),
             (t(features(rng, 4, 30)), t(features(rng, 4, 41)))]
    F, S = request.getfixturevalue("blobs")
    return pairs + [(F[l], S[l]) for l in LAYERS]


# --- the registry -------------------------------------------------------------------------------

def test_every_loss_has_a_numpy_reference():
    assert set(STYLE_LOSSES) == set(REFERENCES)


def test_make_style_loss_passes_each_loss_its_options():
    S = torch.rand(3, 8, dtype=torch.float64)
    assert make_style_loss("mmd-poly", S, **OPTIONS).c == 0.7
    assert make_style_loss("stats", S, **OPTIONS)(S) == 0
    with pytest.raises(ReproduceError, match="unknown style loss"):
        make_style_loss("gramm", S)


# --- each loss against its equation in NumPy ----------------------------------------------------

@pytest.mark.parametrize("name", STYLE_LOSSES)
def test_loss_matches_numpy(name, request):
    for F, S in cases(request):
        loss = make_style_loss(name, S, **OPTIONS)
        expected = REFERENCES[name](F.numpy(), [S.numpy()], [1.0], loss)
        assert float(loss(F)) == pytest.approx(expected, rel=1e-10, abs=1e-300)


@pytest.mark.parametrize("name", BLENDED)
def test_blend_matches_numpy(name):
    rng = np.random.default_rng(1)
    Ss, b = [features(rng, 4, 20), features(rng, 4, 33)], [1.0, 3.0]
    t = torch.from_numpy
    loss = make_style_loss(name, [t(S) for S in Ss], b, **OPTIONS)
    for M in (20, 26):
        F = features(rng, 4, M)
        assert float(loss(t(F))) == pytest.approx(REFERENCES[name](F, Ss, b, loss), rel=1e-10)


@pytest.mark.parametrize("name", [name for name in BLENDED if name != "gram"])
def test_blend_is_the_mixture_of_the_paintings(name):
    """Blend weights (1, 1) of two paintings of one size = one painting holding both, and (1, 2) =
    one holding the second twice (but for sliced-wasserstein, whose interpolated quantile function
    puts a knot at each position's midpoint level: one knot of weight 2 is not two of weight 1)."""
    rng = np.random.default_rng(2)
    S1, S2 = (torch.from_numpy(features(rng, 4, 15)) for _ in range(2))
    pairs = [([1.0, 1.0], [S1, S2]), ([1.0, 2.0], [S1, S2, S2])]
    for b, copies in pairs[:1] if name == "sliced-wasserstein" else pairs:
        blended = make_style_loss(name, [S1, S2], b, **OPTIONS)
        single = make_style_loss(name, torch.cat(copies, dim=1), **OPTIONS)
        for M in (15, 30, 45, 31):
            F = torch.from_numpy(features(rng, 4, M))
            assert float(blended(F)) == pytest.approx(float(single(F)), rel=1e-10)


def test_gram_is_the_papers_loss_and_blends_gram_targets():
    rng = np.random.default_rng(4)
    F, S1, S2 = (torch.from_numpy(features(rng, 6, 18)) for _ in range(3))
    assert torch.equal(make_style_loss("gram", S1)(F), style_layer_loss(gram(F), gram(S1), 6, 18))
    A = 0.0 + 0.25 * gram(S1) + 0.75 * gram(S2)  # the objective's blend of Gram targets
    assert torch.equal(make_style_loss("gram", [S1, S2], [1, 3])(F), style_layer_loss(gram(F), A, 6, 18))


def test_mmd_gaussian_takes_one_style_image():
    S = torch.rand(3, 8, dtype=torch.float64)
    with pytest.raises(ReproduceError, match="one style image"):
        make_style_loss("mmd-gaussian", [S, S], [1, 1])


# --- identities ---------------------------------------------------------------------------------

def test_mmd_identities(request):
    for F, S in cases(request):
        N, M = F.shape
        dmu2 = (F.mean(dim=1) - S.mean(dim=1)).pow(2).sum()
        E_gram = make_style_loss("gram", S)(F)
        linear = make_style_loss("mmd-linear", S)(F)
        torch.testing.assert_close(linear, dmu2 / (4 * N**2), rtol=1e-12, atol=0)
        if S.shape[1] == M:  # eq. 4 is the MMD only for the image's own M
            assert torch.equal(make_style_loss("mmd-poly", S, c=0.0)(F), E_gram)
            torch.testing.assert_close(make_style_loss("mmd-poly", S, c=2.5)(F),
                                       E_gram + 2.5 * dmu2 / (2 * N**2), rtol=1e-12, atol=0)


def test_gram_is_the_mmd_of_the_squared_inner_product_kernel_pair_by_pair():
    rng = np.random.default_rng(5)
    F, S = features(rng, 3, 7), features(rng, 3, 7)
    N, M = F.shape

    def total(X, Y):
        return sum((X[:, i] @ Y[:, j]) ** 2 for i in range(M) for j in range(M))

    mmd2 = (total(F, F) + total(S, S) - 2 * total(F, S)) / M**2
    E = float(make_style_loss("gram", torch.from_numpy(S))(torch.from_numpy(F)))
    assert mmd2 == pytest.approx(4 * N**2 * E, rel=1e-12)


def test_stats_is_zero_exactly_when_the_statistics_match(request):
    for _, S in cases(request):
        loss = make_style_loss("stats", S)
        assert float(loss(S)) == 0.0
        shifted, spread = S.clone(), S.clone()
        shifted[0] += 0.1  # the mean moves, the deviation stays
        spread[0] = 2 * (S[0] - S[0].mean()) + S[0].mean()  # the deviation doubles, the mean stays
        assert float(loss(shifted)) > 0
        if S[0].std() > 0:
            assert float(loss(spread)) > 0


def test_sliced_wasserstein_along_the_coordinates_sorts_each_channel(request):
    for F, S in cases(request):
        if F.shape[1] != S.shape[1]:
            continue
        N = F.shape[0]
        loss = style_losses.SlicedWasserstein(S, directions=torch.eye(N, dtype=torch.float64))
        per_channel = (F.sort(dim=1).values - S.sort(dim=1).values).pow(2).mean()
        torch.testing.assert_close(loss(F), per_channel, rtol=1e-14, atol=0)


# --- gradients and frozen randomness --------------------------------------------------------------

@pytest.mark.parametrize("name", STYLE_LOSSES)
def test_gradient_matches_finite_differences(name):
    g = torch.Generator().manual_seed(6)
    for M_F, M_S in ((10, 10), (9, 14)):
        S = torch.rand(3, M_S, generator=g, dtype=torch.float64)
        F = torch.rand(3, M_F, generator=g, dtype=torch.float64, requires_grad=True)
        loss = make_style_loss(name, S, **OPTIONS)
        assert torch.autograd.gradcheck(loss, (F,), eps=1e-6, atol=1e-9, rtol=1e-5)


@pytest.mark.parametrize("name", STYLE_LOSSES)
def test_same_f_at_the_same_x(name):
    g = torch.Generator().manual_seed(7)
    S, F, F2 = (torch.rand(4, M, generator=g, dtype=torch.float64) for M in (16, 16, 11))
    loss = make_style_loss(name, S, **OPTIONS)
    first = loss(F)
    loss(F2)  # another image size in between
    assert torch.equal(loss(F), first)
    assert torch.equal(make_style_loss(name, S, **OPTIONS)(F), first)  # the same seed, anew


@pytest.mark.parametrize("name", SEEDED)
def test_another_seed_another_f(name):
    g = torch.Generator().manual_seed(8)
    S, F = (torch.rand(4, 16, generator=g, dtype=torch.float64) for _ in range(2))
    values = {float(make_style_loss(name, S, seed=seed)(F)) for seed in (0, 1, 2)}
    assert len(values) == 3
    shared = torch.Generator().manual_seed(0)  # a generator's draws continue its stream
    assert float(make_style_loss(name, S, seed=shared)(F)) != float(make_style_loss(name, S, seed=shared)(F))


@pytest.mark.parametrize("name", STYLE_LOSSES)
def test_float32(name):
    g = torch.Generator().manual_seed(9)
    S, F = (torch.rand(4, M, generator=g) for M in (16, 12))
    F.requires_grad_(True)
    E = make_style_loss(name, S, **OPTIONS)(F)
    E.backward()
    assert E.dtype == torch.float32 and torch.isfinite(E) and torch.isfinite(F.grad).all()


# --- the measures ---------------------------------------------------------------------------------

def np_measures(F, S, seed):
    w = 1.0 / len(LAYERS)
    style = sum(w * np_gram(F[l], [S[l]], [1.0], None) for l in LAYERS)

    def G(X):
        return X @ X.T / X.shape[1]

    vgg = (sum(w * np.mean((G(F[l]) - G(S[l])) ** 2) for l in LAYERS)
           / sum(np.mean(G(S[l]) ** 2) for l in LAYERS))
    sw = 0.0
    for l in LAYERS:
        M = F[l].shape[1]
        V = style_losses.unit_directions(512, F[l].shape[0], seed).numpy()
        levels = (np.arange(S[l].shape[1]) + 0.5) / S[l].shape[1]
        W2 = [np.mean((np.sort(v @ F[l]) - np.interp((np.arange(M) + 0.5) / M, levels, np.sort(v @ S[l])))
                      ** 2) for v in V]
        sw += w * np.sqrt(np.mean(W2))
    mean = sum(w * np.abs(F[l].mean(1) - S[l].mean(1)).sum() / np.abs(S[l].mean(1)).sum() for l in LAYERS)
    std = sum(w * np.abs(F[l].std(1) - S[l].std(1)).sum() / np.abs(S[l].std(1)).sum() for l in LAYERS)
    return dict(style_loss=style, vgg_loss=vgg, sliced_wasserstein=sw, mean_error=mean, std_error=std)


def test_measures_match_numpy(blobs):
    rng = np.random.default_rng(10)
    random = ({l: features(rng, 3 + i, 20) for i, l in enumerate(LAYERS)},
              {l: features(rng, 3 + i, 20 + 3 * i) for i, l in enumerate(LAYERS)})
    real = tuple({l: X[l].numpy() for l in LAYERS} for X in blobs)
    for F, S in (random, real):
        measures = texture_measures.texture_measures({l: torch.from_numpy(F[l]) for l in LAYERS},
                                                     {l: torch.from_numpy(S[l]) for l in LAYERS})
        expected = np_measures(F, S, texture_measures.MEASURE_SEED)
        assert vars(measures) == pytest.approx(expected, rel=1e-9)


def test_measures_are_zero_for_identical_features(blobs):
    S = {l: blobs[1][l].float() for l in LAYERS}  # as a float32 run gives them
    measures = texture_measures.texture_measures(S, {l: S[l].clone() for l in LAYERS})
    assert vars(measures) == dict(style_loss=0.0, vgg_loss=0.0, sliced_wasserstein=0.0, mean_error=0.0,
                                  std_error=0.0)


# --- in the objective -----------------------------------------------------------------------------

def test_the_objective_sums_the_named_loss_over_the_layers(net64):
    """L_style = Σ_l w_l E_l of the loss the config names (w_l = 1/5), each layer's draws from
    one stream seeded by the config's seed; mmd-poly with c = 0 is the paper's objective."""
    from reproduce.method.objective import Objective
    from reproduce.run.config import TransferConfig
    rng = np.random.default_rng(11)
    style, x = (torch.from_numpy(rng.normal(0, 50, (1, 3, 24, 20))) for _ in range(2))
    with torch.no_grad():
        S, F = ({l: feature_matrix(b[l]) for l in LAYERS}
                for b in (net64.blobs(image, list(LAYERS)) for image in (style, x)))
    values = {}
    for name in STYLE_LOSSES:
        c = 0.0 if name == "mmd-poly" else 1.0
        config = TransferConfig(styles=("s",), style_loss=name, mmd_c=c, seed=4)
        values[name] = Objective(net64, None, [style], config).values(x).style
        draws = torch.Generator().manual_seed(4)
        expected = sum(0.2 * float(make_style_loss(name, S[l], c=c, seed=draws)(F[l]))
                       for l in LAYERS)
        assert values[name] == pytest.approx(expected, rel=1e-12), name
    assert values["mmd-poly"] == pytest.approx(values["gram"], rel=1e-12)
    for name in SEEDED:  # another seed, other draws: another f
        config = TransferConfig(styles=("s",), style_loss=name, seed=5)
        assert Objective(net64, None, [style], config).values(x).style != values[name]
