"""Shared fixtures: the real Caffe fixture files and a small converted VGG-shaped network."""
import importlib.util
import pathlib

import pytest
import torch

from reproduce.convert import convert

ROOT = pathlib.Path(__file__).parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
VGG_DIV8 = FIXTURES / "vgg19-v1-div8"


def load_script(name):
    """scripts/<name>.py as a module (the scripts are not part of the package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def small_vgg(tmp_path_factory):
    """Path of a network file: the real-Caffe VGG-19-shaped fixture (channels / 8), conv layers
    only (until pool5) so it takes any input size. Layer names are VGG-19's."""
    out = tmp_path_factory.mktemp("small_vgg")
    return convert(VGG_DIV8 / "deploy_max.prototxt", VGG_DIV8 / "vgg19_v1.caffemodel", out,
                   name="vgg19_div8", until="pool5")["torch"]


@pytest.fixture(scope="module")
def one_thread():
    """Tiny images gain nothing from threads, and on a busy 2-core machine threads cost a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
