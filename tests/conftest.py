"""Shared fixtures: the real Caffe fixture files and a small converted VGG-shaped network."""
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from reproduce.network import load_network
from reproduce.network.convert import convert
from tests.helpers import VGG_DIV8


@pytest.fixture(scope="session")
def small_vgg(tmp_path_factory):
    """Path of a network file: the real-Caffe VGG-19-shaped fixture (channels / 8), conv layers
    only (until pool5) so it takes any input size. Layer names are VGG-19's."""
    out = tmp_path_factory.mktemp("small_vgg")
    return convert(VGG_DIV8 / "deploy_max.prototxt", VGG_DIV8 / "vgg19_v1.caffemodel", out,
                   name="vgg19_div8", until="pool5")["onnx"]


@pytest.fixture(scope="module")
def net64(small_vgg):
    """The small VGG with average pooling, in float64 for gradient checks."""
    return load_network(small_vgg, pooling="avg", precision="float64")


@pytest.fixture(scope="module")
def ray(request):
    """A private local Ray cluster of 2 CPUs for one test module (skipped without ray)."""
    ray = pytest.importorskip("ray")
    from reproduce.run import cluster
    cluster.connect("local", num_cpus=2)
    # the module's fault hooks travel by value: workers cannot import test modules
    ray.cloudpickle.register_pickle_by_value(request.module)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny images gain nothing from threads, and on a busy 2-core machine threads cost a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def pictures(tmp_path_factory):
    """A smooth 'photograph' and a stripy 'painting', 32×48."""
    folder = tmp_path_factory.mktemp("pictures")
    y, x = np.mgrid[0:32, 0:48] / 32.0
    photo = np.stack([200 * y, 120 + 80 * np.sin(3 * x), 255 * (1 - y) * x / 1.5], axis=-1)
    stripes = np.stack([127 + 127 * np.sin(9 * x + 4 * y)] * 2 + [127 + 127 * np.cos(7 * y)], -1)
    paths = {}
    for name, array in (("photo", photo), ("painting", stripes)):
        paths[name] = folder / f"{name}.png"
        iio.imwrite(paths[name], np.clip(array, 0, 255).astype(np.uint8))
    return paths
