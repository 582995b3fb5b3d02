"""Shared fixtures: the real Caffe fixture files and a small converted VGG-shaped network."""
import pathlib

import pytest

from reproduce.convert import convert

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
VGG_DIV8 = FIXTURES / "vgg19-v1-div8"


@pytest.fixture(scope="session")
def small_vgg(tmp_path_factory):
    """Path of a network file: the real-Caffe VGG-19-shaped fixture (channels / 8), conv layers
    only (until pool5) so it takes any input size. Layer names are VGG-19's."""
    out = tmp_path_factory.mktemp("small_vgg")
    return convert(VGG_DIV8 / "deploy_max.prototxt", VGG_DIV8 / "vgg19_v1.caffemodel", out,
                   name="vgg19_div8", until="pool5")["torch"]
