import argparse

import pytest

from rdet_core import DictAction, parse_cfg_options
from rdet_core.config import parse_option_value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-2", -2),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("true", True),
        ("False", False),
        ("None", None),
        ("none", "none"),  # as MMCV: only 'None' is None
        ("RResize", "RResize"),
        ("'quoted'", "quoted"),
        ("a,b,c", ["a", "b", "c"]),
        ("[1,2,3]", [1, 2, 3]),
        ("[ 1, 2 ]", [1, 2]),
        ("(1024,1024)", (1024, 1024)),
        ("[(512,512),(1024,1024)]", [(512, 512), (1024, 1024)]),
        ("[(1,2,3),[a,b],c]", [(1, 2, 3), ["a", "b"], "c"]),
        ("[]", []),
        ("()", ()),
    ],
)
def test_option_values(text, value):
    assert parse_option_value(text) == value
    assert type(parse_option_value(text)) is type(value)


def test_unbalanced_brackets_are_an_error_naming_the_item():
    with pytest.raises(ValueError, match=r"'a\.b=\[1,2': unbalanced"):
        parse_cfg_options(["a.b=[1,2"])
    with pytest.raises(ValueError, match="not of the form key=value"):
        parse_cfg_options(["justakey"])


def test_dict_action_with_argparse():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    args = parser.parse_args(["--cfg-options", "data.train.pipeline.0.type=X", "model.depth=18", "a=b=c"])
    assert args.cfg_options == {"data.train.pipeline.0.type": "X", "model.depth": 18, "a": "b=c"}
