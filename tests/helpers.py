"""Test helpers shared by the test modules: paths of the repository and fixtures, and the scripts
as modules. Fixtures live in conftest.py; helpers are imported from here."""
import importlib.util
import pathlib

import numpy as np

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
