"""The depth experiment (21-layer networks): configurations, gradient by layer, the quick command."""

import json

import numpy as np
import pytest

from indrnn_np.cli import main
from indrnn_np.experiments.depth import network_configs, weight_gradient_norms
from indrnn_np.train import ConfigError, model_of, task_of


def test_every_network_has_21_weight_layers_below_the_head(fake_mnist):
    for name, cfg in network_configs(10, quick=True, data=str(fake_mnist)).items():
        task = task_of(cfg)
        model = model_of(cfg, task)
        weights = [k for k in model.params if k.endswith(".W") and not k.startswith("head.")]
        assert len(weights) == 21, name
        grads = weight_gradient_norms(model, task, cfg.batch, batches=1)
        assert len(grads) == 21 and all(np.isfinite(grads)), name


def test_unknown_network():
    with pytest.raises(ConfigError, match="networks must be among"):
        network_configs(10, names=("gru",))


def test_depth_command_quick(tmp_path, fake_mnist):
    out = tmp_path / "depth"
    args = ["depth", "--quick", "--steps", "10", "--data", str(fake_mnist), "--out", str(out)]
    assert main([*args, "--networks", "res-indrnn", "lstm"]) == 0
    data = json.loads((out / "depth.json").read_text())
    assert set(data["networks"]) == {"res-indrnn", "lstm"}
    for r in data["networks"].values():
        assert len(r["grad_init"]) == 21 and len(r["grad_trained"]) == 21 and r["steps"] == 10
    assert data["networks"]["lstm"]["recurrent_layers"] == 21
    assert data["networks"]["res-indrnn"]["recurrent_layers"] == 22
    for name in ("gradient_vs_layer.png", "curves.png"):
        assert (out / name).stat().st_size > 5000
    assert "| stacked LSTM, 21 layers | 21 |" in (out / "depth.md").read_text()
    # a second call reuses the runs
    assert main([*args, "--networks", "lstm"]) == 0


def test_depth_report_only_trains_nothing(tmp_path, fake_mnist):
    out = tmp_path / "depth"
    args = ["depth", "--quick", "--steps", "10", "--data", str(fake_mnist), "--out", str(out)]
    assert main([*args, "--networks", "dense-indrnn", "--report-only"]) == 0
    r = json.loads((out / "depth.json").read_text())["networks"]["dense-indrnn"]
    assert r["steps"] == 0 and r["grad_trained"] is None and len(r["grad_init"]) == 21
    assert not (out / "runs" / "dense-indrnn").exists() or not any((out / "runs" / "dense-indrnn").iterdir())
