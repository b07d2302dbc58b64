"""Every training option declared once (indrnn_np.train.config), and the recipes built on them."""

import dataclasses
import math

import numpy as np
import pytest

from indrnn_np.cli import build_parser
from indrnn_np.train import RECIPES, ConfigError, TrainConfig, recipe
from indrnn_np.train.config import fixed_on_resume, flag, given_options, options
from indrnn_np.train.recipes import defaults


def test_every_field_is_declared_with_help():
    names = [f.name for f, _ in options()]
    assert names == [f.name for f in dataclasses.fields(TrainConfig)]
    assert all(opt.help for _, opt in options())


def _train_help(task, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", task, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_train_help_shows_each_tasks_real_defaults(capsys):
    assert (
        "total training steps (with --resume: extend the run to this many) (default: 10000)"
        in _train_help("mnist", capsys)
    )
    text = _train_help("adding", capsys)
    assert "(default: 3000)" in text and "--no-clip" in text
    assert "--bn-position {before,after}" in text
    assert "(default: 15000)" in _train_help("rowmnist", capsys)


def test_the_parser_is_generated_from_the_declarations():
    args = build_parser().parse_args(["train", "adding", "--lr", "0.01", "--residual", "--no-clip"])
    assert given_options(args) == {"lr": 0.01, "residual": True, "clip_value": None}
    for f, opt in options():
        if opt.cli:
            kind = {"int": "3", "float": "0.5", "str": (opt.choices or ("x",))[0], "bool": None}
            t = f.type.split(" |")[0] if isinstance(f.type, str) else f.type.__name__
            argv = ["train", "adding", flag(f.name)] + ([] if t == "bool" else [kind[t]])
            assert f.name in given_options(build_parser().parse_args(argv)), f.name


def test_resume_takes_only_steps():
    assert fixed_on_resume({"steps": 10}) == []
    assert fixed_on_resume({"steps": 10, "lr": 1.0, "bn_position": "after"}) == ["--lr", "--bn-position"]


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(seed=-1), "seed must be >= 0; got -1"),
        (dict(momentum=-5.0), "momentum must be >= 0"),
        (dict(momentum=1.0), "momentum must be < 1"),
        (dict(lr=math.inf), "lr must be a finite number; got inf"),
        (dict(lr=math.nan), "lr must be a finite number"),
        (dict(lr=0.0), "lr must be > 0"),
        (dict(dropout=1.0), "dropout must be < 1"),
        (dict(bn="sometimes"), "bn must be one of none, time, frame"),
        (dict(T=1), "T must be >= 2 for the adding problem"),
        (dict(T=0), "T must be >= 2 for the adding problem; got 0"),
        (dict(T=2.5), "T must be an integer"),
        (dict(residual=1), "residual must be true or false"),
        (dict(clip_value=0.0), "clip_value must be > 0"),
        (dict(shift=2), "shift (random translation of training images) is for the MNIST tasks"),
        (dict(task="rowmnist", T=100), "T is 28 for rowmnist"),
        (dict(task="ptb-char", model="lstm"), "ptb-char trains stateful IndRNNs only"),
    ],
)
def test_validation_names_the_option(kw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**kw).validate()


def test_options_of_other_tasks_are_refused_and_errors_carry_the_field():
    with pytest.raises(
        ConfigError,
        match="data is an option of tasks mnist, pmnist, rowmnist, ptb-char, arrays, not of adding",
    ) as e:
        TrainConfig(data="/nonexistent").validate()
    assert e.value.option == "data"
    assert e.value.for_command_line().startswith("--data is an option of tasks")
    with pytest.raises(ConfigError, match="shift") as e:
        recipe("ptb-char", shift=1)
    assert e.value.option == "shift"
    with pytest.raises(ConfigError, match="^eval_every must be >= 1; got 0$") as e:
        TrainConfig(eval_every=0).validate()  # the Python API names the field
    assert e.value.for_command_line() == "--eval-every must be >= 1; got 0"
    assert (
        ConfigError("task arrays trains on your own arrays", "data")
        .for_command_line()
        .startswith("task arrays")
    )
    assert ConfigError("T_max is 3", "T").for_command_line() == "T_max is 3"  # only the whole name
    recipe("rowmnist", data="/some/folder", shift=1)  # where they apply, they are taken


def test_from_dict_is_strict():
    d = TrainConfig().to_dict()
    assert TrainConfig.from_dict(d) == TrainConfig()
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        TrainConfig.from_dict({**d, "colour": 1})
    with pytest.raises(ConfigError, match="lacks key 'seed'"):
        TrainConfig.from_dict({k: v for k, v in d.items() if k != "seed"})
    with pytest.raises(ConfigError, match="must be a JSON object"):
        TrainConfig.from_dict([d])


def test_recipes_are_valid_and_overridable():
    for task in RECIPES:
        if task != "arrays":  # its data decide T: below
            assert recipe(task).task == task
    assert recipe("mnist", steps=5).steps == 5 and recipe("mnist").steps == 10000
    with pytest.raises(ConfigError, match="unexpected keyword argument 'colour'"):
        recipe("adding", colour=1)
    with pytest.raises(ConfigError, match="task must be one of"):
        recipe("sorting")


def test_configs_saved_before_an_option_existed_still_load():
    d = TrainConfig().to_dict()
    old = {k: v for k, v in d.items() if k not in ("shift", "data")}
    assert TrainConfig.from_dict(old) == TrainConfig()


def test_widths_option():
    from indrnn_np.train import model_label

    cfg = recipe("adding", widths="128,1")
    assert cfg.layer_widths() == [128, 1] and model_label(cfg) == "128, 1 IndRNN"
    assert recipe("adding", model="lstm", layers=3, hidden=64).layer_widths() == [64, 64, 64]
    assert model_label(recipe("adding", model="lstm", layers=3, hidden=64)) == "3 x 64 LSTM"
    for bad in ("128,0", "a,b", "", "128,,1"):
        with pytest.raises(ConfigError, match="widths must be positive integers"):
            recipe("adding", widths=bad)
    with pytest.raises(ConfigError, match="one width"):
        recipe("adding", widths="8,4", residual=True)


def test_baseline_configs_saved_before_stacking_load_as_one_layer():
    """Runs saved before --layers applied to baselines stored layers=2 but trained one layer."""
    old = TrainConfig(model="lstm").to_dict()
    del old["widths"]
    assert TrainConfig.from_dict(old).layers == 1
    new = TrainConfig(model="lstm", layers=3).to_dict()
    assert TrainConfig.from_dict(new).layers == 3


def test_cuda_backend_refuses_layers_without_cuda_kernels():
    """Nothing falls back to the CPU silently: the baselines have no CUDA kernels; batch norm has."""
    from indrnn_np.nn import BatchNorm

    with pytest.raises(ConfigError, match="backend cuda trains the IndRNN networks only"):
        recipe("adding", backend="cuda", model="lstm")
    recipe("adding", backend="cuda", bn="time").validate()
    assert BatchNorm(4, backend="cuda").backend == "cuda"
    with pytest.raises(ValueError, match="BatchNorm backend must be"):
        BatchNorm(4, backend="gpu")


def test_a_dense_indrnn_on_a_stateful_task_carries_its_state():
    """model_of applies the stateful setting to every IndRNN kind (the dense network once skipped it)."""
    from types import SimpleNamespace

    from indrnn_np.nn import recurrent_layers
    from indrnn_np.train import model_of

    cfg = recipe("ptb-char", dense_blocks="1,1", growth=2, hidden=4, bn="none", batch=3)
    model = model_of(cfg, SimpleNamespace(inputs=5, outputs=5, head="all"))
    layers = list(recurrent_layers(model))
    assert layers and all(layer.stateful and layer.state.shape[0] == 3 for layer in layers)


def test_the_arrays_recipe_takes_T_from_its_data(tmp_path, capsys):
    x = np.zeros((6, 9, 2), np.float32)
    np.savez(
        tmp_path / "d.npz", x=x, y=np.arange(6) % 2, x_test=np.zeros((3, 12, 2)), y_test=np.zeros(3, int)
    )
    cfg = recipe("arrays", data=str(tmp_path / "d.npz"))
    assert cfg.T == 12 and cfg.steps == RECIPES["arrays"]["steps"] and cfg.schedule == "none"
    assert recipe("arrays", data=str(tmp_path / "d.npz"), T=12).T == 12
    with pytest.raises(ConfigError, match="T comes from the data for task arrays: .* up to 12 steps"):
        recipe("arrays", data=str(tmp_path / "d.npz"), T=100)
    with pytest.raises(ConfigError, match="--data FILE.npz"):
        recipe("arrays")
    assert defaults("arrays").lr == RECIPES["arrays"]["lr"]  # what --help shows, without a file
    assert "(default: the data's longest sequence; given, it must be that)" in _train_help("arrays", capsys)
