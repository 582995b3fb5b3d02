"""Colour preservation (Gatys, Bethge, Hertzmann & Shechtman 2016, beyond the 2015 paper): the
colour transfer against a NumPy/SciPy writing of the note's transform, the statistics it must
match, YIQ and the luminance-only path."""
import numpy as np
import pytest
import scipy.linalg

from reproduce.errors import ParameterError
from reproduce.method import colour


def correlated_image(seed, shape=(12, 17)):
    """A float64 H×W×3 image in 20..235 whose channels are correlated (a random mixing)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (*shape, 3)) @ rng.normal(0, 1, (3, 3)).T
    return 20 + 215 * (x - x.min()) / (x.max() - x.min())


def statistics(image):
    x = image.reshape(-1, 3).astype(np.float64)
    return x.mean(0), np.cov(x, rowvar=False, bias=True)


def note_transform(style, content):
    """The note's image-analogies colour transfer, written with SciPy's matrix square root."""
    mu_S, Sigma_S = statistics(style)
    mu_C, Sigma_C = statistics(content)
    A = np.real(scipy.linalg.sqrtm(Sigma_C)) @ np.linalg.inv(np.real(scipy.linalg.sqrtm(Sigma_S)))
    b = mu_C - A @ mu_S
    return style @ A.T + b


def cholesky_transform(style, content):
    """The note's other variant, A = L_C L_S⁻¹: it matches the same statistics."""
    mu_S, Sigma_S = statistics(style)
    mu_C, Sigma_C = statistics(content)
    A = np.linalg.cholesky(Sigma_C) @ np.linalg.inv(np.linalg.cholesky(Sigma_S))
    return style @ A.T + (mu_C - A @ mu_S)


STYLE, CONTENT = correlated_image(0), correlated_image(1, shape=(9, 11))


def test_histogram_matching_gives_the_contents_mean_and_covariance():
    mu_C, Sigma_C = statistics(CONTENT)
    mu, Sigma = statistics(colour.match_colour_histogram(STYLE, CONTENT))
    np.testing.assert_allclose(mu, mu_C, rtol=0, atol=1e-9 * 255)
    np.testing.assert_allclose(Sigma, Sigma_C, rtol=0, atol=1e-9 * 255**2)
    # the images the program loads are float32: the same, to 1e-4 of 255²
    matched32 = colour.match_colour_histogram(STYLE.astype(np.float32), CONTENT.astype(np.float32))
    assert matched32.dtype == np.float32
    mu, Sigma = statistics(matched32)
    np.testing.assert_allclose(mu, mu_C, rtol=0, atol=1e-4 * 255)
    np.testing.assert_allclose(Sigma, Sigma_C, rtol=0, atol=1e-4 * 255**2)


def test_histogram_matching_is_the_notes_image_analogies_transform():
    matched = colour.match_colour_histogram(STYLE, CONTENT)
    np.testing.assert_allclose(matched, note_transform(STYLE, CONTENT), rtol=0, atol=1e-8)
    A, _ = colour.colour_transform(STYLE, CONTENT)
    Sigma_C_half = np.real(scipy.linalg.sqrtm(statistics(CONTENT)[1]))
    np.testing.assert_allclose(A @ np.real(scipy.linalg.sqrtm(statistics(STYLE)[1])), Sigma_C_half,
                               rtol=1e-9, atol=1e-9)
    # the Cholesky variant matches the same statistics but is another image: the check above can fail
    assert np.abs(cholesky_transform(STYLE, CONTENT) - matched).max() > 1.0


def test_grey_content_gives_grey_style():
    y, x = np.mgrid[0:10, 0:14]
    grey_content = np.repeat((40 + 10 * y + 5 * x)[..., None], 3, axis=2).astype(np.float64)
    matched = colour.match_colour_histogram(STYLE, grey_content)
    np.testing.assert_allclose(matched[..., 0], matched[..., 1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(matched[..., 0], matched[..., 2], rtol=0, atol=1e-9)
    mu_C, Sigma_C = statistics(grey_content)
    mu, Sigma = statistics(matched)
    np.testing.assert_allclose(mu, mu_C, atol=1e-9 * 255)
    np.testing.assert_allclose(Sigma, Sigma_C, atol=1e-9 * 255**2)


def test_flat_style_becomes_the_contents_mean():
    flat = np.full((4, 5, 3), 90.0)
    matched = colour.match_colour_histogram(flat, CONTENT)
    np.testing.assert_allclose(matched, np.broadcast_to(statistics(CONTENT)[0], matched.shape), atol=1e-9)


def test_yiq():
    assert colour.luminance(np.array([255.0, 255.0, 255.0])) == pytest.approx(255.0, abs=1e-12)
    primaries = colour.luminance(np.array([[[255.0, 0, 0], [0, 255.0, 0], [0, 0, 255.0]]]))
    assert primaries[0].tolist() == pytest.approx([0.299 * 255, 0.587 * 255, 0.114 * 255], rel=1e-12)
    np.testing.assert_allclose(colour.rgb_to_yiq(np.array([100.0, 100.0, 100.0])), [100.0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(colour.yiq_to_rgb(colour.rgb_to_yiq(STYLE)), STYLE, atol=1e-9)


def test_to_luminance_image_is_grey():
    L_image = colour.to_luminance_image(STYLE)
    assert L_image.shape == STYLE.shape and L_image.dtype == np.float32
    expected = 0.299 * STYLE[..., 0] + 0.587 * STYLE[..., 1] + 0.114 * STYLE[..., 2]
    for c in range(3):
        np.testing.assert_allclose(L_image[..., c], expected, rtol=1e-6)


def test_match_luminance():
    assert colour.match_luminance(np.array([0.0, 10.0]), np.array([100.0, 140.0])).tolist() == [100.0, 140.0]
    L_S, L_C = colour.luminance(STYLE), colour.luminance(CONTENT)
    matched = colour.match_luminance(L_S, L_C)
    assert matched.mean() == pytest.approx(L_C.mean(), rel=1e-12)
    assert matched.std() == pytest.approx(L_C.std(), rel=1e-12)
    np.testing.assert_allclose(np.corrcoef(matched.ravel(), L_S.ravel())[0, 1], 1.0, rtol=1e-12)
    assert colour.match_luminance(np.full((2, 3), 9.0), L_C).tolist() == [[L_C.mean()] * 3] * 2


def test_combine_keeps_the_contents_chroma_up_to_8_bit_rounding():
    rng = np.random.default_rng(3)
    content = np.rint(rng.uniform(70, 185, (10, 13, 3)))
    result_L = colour.luminance(content) + rng.uniform(-40, 40, content.shape[:2])
    combined = colour.combine(result_L, content)
    assert combined.dtype == np.float32 and 0 < combined.min() and combined.max() < 255  # no clipping
    saved = np.clip(np.rint(combined), 0, 255).astype(np.uint8)  # as image.save_image writes it
    yiq, yiq_C = colour.rgb_to_yiq(saved), colour.rgb_to_yiq(content)
    rounding = 0.5 * np.abs(colour.RGB_TO_YIQ).sum(axis=1)  # |Δ| ≤ 0.5 per channel
    assert np.abs(yiq[..., 1] - yiq_C[..., 1]).max() <= rounding[1] + 1e-9
    assert np.abs(yiq[..., 2] - yiq_C[..., 2]).max() <= rounding[2] + 1e-9
    assert np.abs(yiq[..., 0] - result_L).max() <= rounding[0] + 1e-9
    # before rounding, the chroma is the content's exactly
    np.testing.assert_allclose(colour.rgb_to_yiq(combined)[..., 1:], yiq_C[..., 1:], atol=1e-4)


def test_combine_clips():
    combined = colour.combine(np.array([[300.0, -20.0]]), np.array([[[100.0] * 3, [50.0] * 3]]))
    assert combined[0, 0].tolist() == [255.0] * 3 and combined[0, 1].tolist() == [0.0] * 3
    combined = colour.combine(np.array([[250.0, 5.0]]), np.array([[[200.0, 30, 30], [10, 40, 200]]]))
    assert combined.max() == 255.0 and combined.min() == 0.0


def test_colour_inputs_and_output():
    styles = [STYLE, correlated_image(5)]
    plain, histogram, luminance = (colour.colour_method(m) for m in (None, "histogram", "luminance"))
    content, same = plain.inputs(CONTENT, styles)
    assert content is CONTENT and same is styles
    result = correlated_image(6, shape=CONTENT.shape[:2])
    assert plain.output(result, CONTENT) is result
    assert histogram.output(result, CONTENT) is result
    assert plain.seen(result) is result and histogram.seen(result) is result

    content, matched = histogram.inputs(CONTENT, styles)
    assert content is CONTENT
    for s, m in zip(styles, matched):
        np.testing.assert_array_equal(m, colour.match_colour_histogram(s, CONTENT))

    content, grey_styles = luminance.inputs(CONTENT, styles)
    L_C = colour.luminance(CONTENT)
    np.testing.assert_array_equal(content, colour.to_luminance_image(CONTENT))
    for g in grey_styles:
        assert (g[..., 0] == g[..., 1]).all() and (g[..., 0] == g[..., 2]).all()
        assert g[..., 0].mean() == pytest.approx(L_C.mean(), rel=1e-5)
        assert g[..., 0].std() == pytest.approx(L_C.std(), rel=1e-5)
    np.testing.assert_array_equal(luminance.output(result, CONTENT),
                                  colour.combine(colour.luminance(result), CONTENT))
    np.testing.assert_array_equal(luminance.seen(result), colour.to_luminance_image(result))


def test_bad_methods_are_one_line_errors():
    with pytest.raises(ParameterError, match="preserve_colour must be one of histogram, "
                                             "luminance or None, not 'lab'"):
        colour.colour_method("lab")
    with pytest.raises(ParameterError, match="needs a content image"):
        colour.colour_method("luminance").inputs(None, [STYLE])
    with pytest.raises(ParameterError, match="must be one of"):
        colour.colour_method("Histogram")
