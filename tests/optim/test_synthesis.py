"""The tensor-only core: synthesise() from Python with one's own start, bounds and callback, as
the README shows it."""
import re

import numpy as np
import pytest
import torch

from reproduce.errors import Interrupted, ReproduceError
from reproduce.image import load_image, preprocess
from reproduce.method.objective import Objective
from reproduce.network import load_network
from reproduce.optim import OPTIMISERS
from reproduce.optim.synthesis import SynthesisInterrupted, synthesise
from reproduce.run.config import TransferConfig
from tests.helpers import ROOT


@pytest.fixture(scope="module")
def objective(small_vgg, pictures):
    net = load_network(small_vgg, pooling="avg")
    photo, painting = load_image(pictures["photo"], 24), load_image(pictures["painting"], 24)
    return Objective(net, preprocess(photo), [preprocess(painting)], TransferConfig())


def test_the_readme_example_runs(small_vgg, pictures, tmp_path, capsys, one_thread):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"### From Python\n.*?```python\n(.*?)```", text, re.S).group(1)
    for old, new in (("models/converted/vgg19.onnx", str(small_vgg)),
                     ("data/inputs/tubingen.jpg", str(pictures["photo"])),
                     ("data/inputs/starry_night.jpg", str(pictures["painting"])),
                     ("256", "24"), ("iterations=100", "iterations=3"),
                     ('"out.png"', repr(str(tmp_path / "out.png")))):
        assert old in code
        code = code.replace(old, new)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.iterations == 3 and result.completed
    assert load_image(tmp_path / "out.png").shape == (16, 24, 3)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed] == ["1", "2", "3"]
    assert float(printed[-1].split()[1]) == pytest.approx(result.losses.total, rel=1e-4)


@pytest.mark.parametrize("optimiser", list(OPTIMISERS))
def test_an_array_start_stays_within_the_bounds_given(objective, optimiser, one_thread):
    start = np.zeros((1, 3, 16, 24), np.float32)
    low = np.full(start.shape, -5.0)
    result = synthesise(objective, start, bounds=(low, 5.0), optimiser=optimiser, iterations=5)
    assert result.iterations == 5 and result.completed and result.stop
    assert float(result.image.min()) >= -5.0 and float(result.image.max()) <= 5.0
    assert float(result.image.abs().max()) == pytest.approx(5.0)  # the bounds are active
    assert result.losses.total < objective.values(torch.from_numpy(start)).total


def test_an_interrupt_carries_the_last_iterate(objective, one_thread):
    seen = []

    def callback(iteration, x, losses):
        seen.append((iteration, x.clone(), losses))
        if iteration == 3:
            raise Interrupted(15)

    with pytest.raises(SynthesisInterrupted) as caught:
        synthesise(objective, torch.zeros(1, 3, 16, 24), iterations=10, callback=callback)
    assert isinstance(caught.value, Interrupted) and caught.value.signum == 15  # SIGTERM's code
    result = caught.value.partial  # typed: a Synthesis, not an attribute added to the interrupt
    assert result.iterations == 3 and result.stop == "interrupted" and not result.completed
    torch.testing.assert_close(result.image, seen[-1][1])
    assert result.losses.total == pytest.approx(seen[-1][2].total, rel=1e-5)


def test_a_bad_start_or_optimiser_is_one_line(objective):
    with pytest.raises(ReproduceError, match="start image x0 must be 1×3×H×W"):
        synthesise(objective, torch.zeros(3, 16, 24))
    with pytest.raises(ReproduceError, match=r"bounds must be numbers or arrays of the start"):
        synthesise(objective, torch.zeros(1, 3, 16, 24), bounds=(np.zeros((2, 2)), 1.0))
    with pytest.raises(ReproduceError, match="optimiser must be one of scipy, device"):
        synthesise(objective, torch.zeros(1, 3, 16, 24), optimiser="adam")
