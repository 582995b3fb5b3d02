"""Test helpers shared by the test modules: paths of the repository and fixtures, and the scripts
as modules, a small transfer's configuration. Fixtures live in conftest.py; helpers are imported
from here."""
import importlib.util
import pathlib

import numpy as np

from reproduce.run.config import TransferConfig

ROOT = pathlib.Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
VGG_DIV8 = FIXTURES / "vgg19-v1-div8"


def load_script(name):
    """scripts/<name>.py as a module (the scripts are not part of the package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def relative_error(ours, caffe):
    """The largest difference from Caffe's blob, relative to that blob's largest value."""
    return float(np.abs(ours - caffe).max() / max(np.abs(caffe).max(), 1e-30))


def small_transfer(small_vgg, tmp_path, pictures, **overrides):
    """A TransferConfig for the small network with the test pictures: the photo and the
    painting at 48 px, 4 iterations, image and log in tmp_path; `overrides` change any field."""
    base = dict(content=str(pictures["photo"]), styles=(str(pictures["painting"]),),
                model=str(small_vgg), output=str(tmp_path / "out.png"), size=48, iterations=4,
                log=str(tmp_path / "log.json"), device="cpu")
    return TransferConfig(**{**base, **overrides})
