"""The public API and the layout: one set of names from `import reproduce`, loaded on first use,
and the configuration, the figure tables and grid files importable without torch."""
import subprocess
import sys

import pytest

import reproduce

API = ["Objective", "ReproduceError", "TransferConfig", "configure_runtime", "convert",
       "deprocess", "load_image", "load_network", "preprocess", "run_transfer", "save_image",
       "synthesise"]


def test_the_public_api_is_these_names():
    assert sorted(reproduce.__all__) == API
    assert sorted(dir(reproduce)) == API
    for name in API:
        assert getattr(reproduce, name).__name__ == name
    with pytest.raises(AttributeError, match="has no attribute 'transfer_image'"):
        reproduce.transfer_image  # noqa: B018


@pytest.mark.parametrize("modules", [
    "reproduce",
    "reproduce.run.config",
    "reproduce.figures.tables, reproduce.figures.papers",
    "reproduce.run.config, reproduce.figures.tables, reproduce.run.grid",
    "reproduce.caffe, reproduce.network, reproduce.method, reproduce.optim, reproduce.run, "
    "reproduce.figures, reproduce.image",
])
def test_the_configuration_and_tables_import_no_torch(modules):
    code = (f"import sys, {modules}; from reproduce.run.config import TransferConfig; "
            "TransferConfig(device='cpu'); "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert 'onnx2torch' not in sys.modules, 'onnx2torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_packages_name_what_they_offer():
    """Every stage package lists its exports, and each resolves."""
    import importlib
    for package in ("caffe", "network", "image", "method", "optim", "run", "figures"):
        module = importlib.import_module(f"reproduce.{package}")
        assert module.__all__
        for name in module.__all__:
            assert getattr(module, name) is not None, (package, name)
