"""Config-file semantics on files written here: bases, _delete_, variables, errors, dumping."""

import pickle
import sys
import textwrap

import pytest

from rdet_core import Config, ConfigDict, Registry
from rdet_core.config import ConfigFileError
from rdet_core.custom_imports import CustomImportError


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_a_base_that_overrides_a_base(tmp_path):
    write(
        tmp_path,
        "_base_/grand.py",
        "model = dict(type='A', depth=50, neck=dict(out=256, num_outs=5))\nlr = 0.1\n",
    )
    write(tmp_path, "_base_/parent.py", "_base_ = './grand.py'\nmodel = dict(depth=18, neck=dict(out=128))\n")
    child = write(
        tmp_path,
        "child.py",
        "_base_ = ['./_base_/parent.py']\nmodel = dict(neck=dict(num_outs=3))\nlr = 0.01\n",
    )
    cfg = Config.fromfile(child)
    assert cfg.to_dict() == {
        "model": {"type": "A", "depth": 18, "neck": {"out": 128, "num_outs": 3}},
        "lr": 0.01,
    }
    assert cfg.text.count("\n") > 3 and str(child) in cfg.text


def test_delete_inside_nested_dicts(tmp_path):
    write(
        tmp_path,
        "base.py",
        "model = dict(type='A', head=dict(type='H', loss=dict(type='Focal', gamma=2.0), n=1))\n",
    )
    child = write(
        tmp_path,
        "child.py",
        "_base_ = 'base.py'\nmodel = dict(head=dict(loss=dict(_delete_=True, type='L1', weight=1.0)))\n",
    )
    assert Config.fromfile(child).model.to_dict() == {
        "type": "A",
        "head": {"type": "H", "loss": {"type": "L1", "weight": 1.0}, "n": 1},
    }


def test_delete_without_anything_to_delete_is_dropped(tmp_path):
    """MMCV 1.7.2 keeps ``_delete_`` when the base lacks the key (it then reaches a
    constructor as an unexpected argument); rdet drops it."""
    write(tmp_path, "base.py", "model = dict(type='A')\n")
    child = write(
        tmp_path,
        "child.py",
        "_base_ = 'base.py'\nmodel = dict(neck=dict(_delete_=True, type='FPN', inner=dict(_delete_=True, a=1)))\n",
    )
    assert Config.fromfile(child).model.to_dict() == {"type": "A", "neck": {"type": "FPN", "inner": {"a": 1}}}


def test_child_dict_over_base_scalar_needs_delete(tmp_path):
    write(tmp_path, "base.py", "optimizer_config = None\n")
    child = write(
        tmp_path, "child.py", "_base_ = 'base.py'\noptimizer_config = dict(grad_clip=dict(max_norm=35))\n"
    )
    with pytest.raises(
        TypeError, match=r"optimizer_config=.*dict in the child but a NoneType in the base.*_delete_"
    ):
        Config.fromfile(child)


def test_bases_may_not_share_keys(tmp_path):
    write(tmp_path, "a.py", "x = 1\ny = 2\n")
    write(tmp_path, "b.py", "y = 3\n")
    child = write(tmp_path, "child.py", "_base_ = ['a.py', 'b.py']\n")
    with pytest.raises(ConfigFileError, match="'y' is in a.py and b.py"):
        Config.fromfile(child)


def test_predefined_and_base_variables(tmp_path):
    write(tmp_path, "base.py", "item = dict(a=1, b=[1, 2])\nangle_version = 'le90'\n")
    child = write(
        tmp_path,
        "sub/my_cfg.py",
        """\
        _base_ = '../base.py'
        work_dir = './work_dirs/{{ fileBasenameNoExtension }}'
        where = '{{fileDirname}}'
        copied = {{ _base_.item }}
        version = {{_base_.angle_version}}
        nested = dict(b={{ _base_.item.b }})
        """,
    )
    cfg = Config.fromfile(child)
    assert cfg.work_dir == "./work_dirs/my_cfg"
    assert cfg.where == str(tmp_path / "sub")
    assert cfg.copied == {"a": 1, "b": [1, 2]} and cfg.version == "le90" and cfg.nested.b == [1, 2]


def test_intermediate_variables_stay_and_modules_and_functions_go(tmp_path):
    path = write(
        tmp_path,
        "c.py",
        "import math\nfrom math import pi\ndef helper():\n    return 1\nangle = pi / 2\nscale = helper()\n",
    )
    assert Config.fromfile(path).to_dict() == {
        "pi": pytest.approx(3.14159265),
        "angle": pytest.approx(1.5707963),
        "scale": 1,
    }


def test_errors_name_the_file_and_line(tmp_path):
    bad = write(tmp_path, "bad.py", "a = 1\nb = dict(x=1,\nc = 3\n")
    with pytest.raises(ConfigFileError, match=r"bad\.py, line \d"):
        Config.fromfile(bad)
    missing_base = write(tmp_path, "child.py", "_base_ = 'nope.py'\n")
    with pytest.raises(FileNotFoundError, match=r"nope\.py \(a _base_ of .*child\.py\)"):
        Config.fromfile(missing_base)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        Config.fromfile(tmp_path / "absent.py")
    with pytest.raises(ConfigFileError, match="only .py"):
        Config.fromfile(write(tmp_path, "c.txt", "a = 1"))
    with pytest.raises(ConfigFileError, match="not defined by its bases"):
        write(tmp_path, "b2.py", "x = 1\n")
        Config.fromfile(write(tmp_path, "c2.py", "_base_ = 'b2.py'\ny = {{ _base_.zz }}\n"))
    with pytest.raises(KeyError, match="reserved"):
        Config(dict(filename="x"))


def test_bad_bases_and_failing_code_name_the_files(tmp_path):
    """MMCV: a cycle of _base_ is a RecursionError, a base variable without _base_ stays a
    placeholder string, an exception in the file's code has no file or line of the config."""
    write(tmp_path, "a.py", "_base_ = 'b.py'\nx = 1\n")
    write(tmp_path, "b.py", "_base_ = 'c.py'\ny = 1\n")
    write(tmp_path, "c.py", "_base_ = 'a.py'\nz = 1\n")
    with pytest.raises(ConfigFileError, match=r"cycle: .*a\.py -> .*b\.py -> .*c\.py -> .*a\.py"):
        Config.fromfile(tmp_path / "a.py")
    with pytest.raises(ConfigFileError, match=r"self\.py -> .*self\.py"):
        Config.fromfile(write(tmp_path, "self.py", "_base_ = './self.py'\n"))
    with pytest.raises(
        ConfigFileError, match=r"nobase\.py: \{\{ _base_\.model \}\} used, but the file has no _base_"
    ):
        Config.fromfile(write(tmp_path, "nobase.py", "m = {{ _base_.model }}\n"))
    with pytest.raises(ConfigFileError, match=r"boom\.py, line 3: ZeroDivisionError"):
        Config.fromfile(write(tmp_path, "boom.py", "a = 1\nb = 2\nc = a / 0\n"))
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"a = 1\nname = '\xe9t\xe9'\n")
    with pytest.raises(ConfigFileError, match=r"latin\.py, line 2: not UTF-8"):
        Config.fromfile(latin)


def test_json_and_yaml_configs_with_python_bases(tmp_path):
    write(tmp_path, "base.py", "model = dict(type='A', depth=50)\n")
    j = write(tmp_path, "c.json", '{"_base_": "base.py", "model": {"depth": 18}}')
    y = write(tmp_path, "c.yaml", "_base_: base.py\nmodel:\n  depth: 34\n")
    assert Config.fromfile(j).model.to_dict() == {"type": "A", "depth": 18}
    assert Config.fromfile(y).model.to_dict() == {"type": "A", "depth": 34}


def test_merge_from_dict_list_indices_tuples_and_types():
    cfg = Config(
        dict(
            data=dict(train=dict(pipeline=[dict(type="Load"), dict(type="RResize", img_scale=(1024, 1024))]))
        )
    )
    cfg.merge_from_dict(
        {
            "data.train.pipeline.1.img_scale": [(512, 512), (640, 640)],
            "data.train.pipeline.0.type": "LoadFromBytes",
            "model.frozen": True,
            "model.pretrained": None,
        }
    )
    assert cfg.data.train.pipeline[0].type == "LoadFromBytes"
    assert cfg.data.train.pipeline[1].img_scale == [(512, 512), (640, 640)]
    assert cfg.model.to_dict() == {"frozen": True, "pretrained": None}
    with pytest.raises(KeyError, match="index 5 .* out of range"):
        cfg.merge_from_dict({"data.train.pipeline.5.type": "X"})


def test_merge_from_dict_refuses_a_new_key_that_misspells_one_beside_it():
    """`--cfg-options model.backbone.dept=50` used to add a key no one reads and exit 0; a new key
    far from its siblings is still added (MMCV adds them too)."""
    cfg = Config(dict(model=dict(backbone=dict(depth=50)), data=dict(train=dict(ann_file="a"))))
    with pytest.raises(KeyError, match=r"model\.backbone\.dept; did you mean model\.backbone\.depth\?"):
        cfg.merge_from_dict({"model.backbone.dept": 18})
    with pytest.raises(KeyError, match=r"option data\.trian\.ann_file: .*did you mean data\.train\?"):
        cfg.merge_from_dict({"data.trian.ann_file": "b"})
    assert cfg.model.backbone.depth == 50 and "trian" not in cfg.data  # nothing merged
    cfg.merge_from_dict({"model.backbone.frozen_stages": 1, "data.val.ann_file": "v"})
    assert cfg.model.backbone.frozen_stages == 1 and cfg.data.val.ann_file == "v"


def test_pretty_text_writes_what_python_cannot_take_as_keywords(tmp_path):
    tricky = {
        "mapping": {"class": 1, "with space": 2, 3: "int key", "ok": 'it\'s "quoted"\\n'},
        "tuples": ((1,), (), (1, 2)),
        "floats": [1e-10, 0.1, float("inf")],
        "nested": [dict(a=[dict(b=(1, 2))])],
        "long": ["x" * 30] * 6,
    }
    cfg = Config(tricky)
    path = tmp_path / "t.py"
    cfg.dump(path)
    assert Config.fromfile(path).to_dict() == tricky
    assert Config.fromstring(cfg.pretty_text, ".py").to_dict() == tricky


def test_config_dict_behaviour():
    d = ConfigDict(a=dict(b=[dict(c=1)], t=(dict(d=2),)))
    assert d.a.b[0].c == 1 and d.a.t[0].d == 2 and isinstance(d.a.t, tuple)
    d.x = dict(y=1)
    assert d.x.y == 1 and isinstance(d.x, ConfigDict)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = d.missing
    with pytest.raises(KeyError):
        _ = d["missing"]
    assert type(d.to_dict()["a"]) is dict and type(d.to_dict()["a"]["b"][0]) is dict
    assert pickle.loads(pickle.dumps(d)) == d and isinstance(pickle.loads(pickle.dumps(d)).a, ConfigDict)


def test_config_copy_pickle_and_equality(tmp_path):
    import copy

    cfg = Config(dict(a=dict(b=1)), filename=None)
    deep = copy.deepcopy(cfg)
    deep.a.b = 2
    assert cfg.a.b == 1 and deep.a.b == 2
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert cfg == {"a": {"b": 1}}
    cfg.new = dict(k=1)
    assert cfg.new.k == 1 and "new" in cfg and len(cfg) == 2


def test_custom_imports_run_at_build_time(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("test_custom_import_models")
    write(
        tmp_path,
        "my_custom_head.py",
        """\
        from rdet_core import Registry
        from rdet_core.registry import all_registries
        @all_registries()["test_custom_import_models"].register_module()
        class MyHead:
            def __init__(self, n):
                self.n = n
        """,
    )
    cfg_path = write(
        tmp_path,
        "c.py",
        "custom_imports = dict(imports=['my_custom_head'], allow_failed_imports=False)\nmodel = dict(type='MyHead', n=4)\n",
    )
    cfg = Config.fromfile(cfg_path)
    assert "my_custom_head" not in sys.modules  # loading does not import
    assert reg.build(cfg.model).n == 4
    del sys.modules["my_custom_head"]


def test_custom_imports_failures(tmp_path):
    allowed = write(
        tmp_path, "a.py", "custom_imports = dict(imports=['no_such_module_xyz'], allow_failed_imports=True)\n"
    )
    with pytest.warns(UserWarning, match="no_such_module_xyz"):
        Config.fromfile(allowed, import_custom_modules=True)
    strict = write(tmp_path, "b.py", "custom_imports = dict(imports='no_such_module_xyz')\n")
    with pytest.raises(CustomImportError, match=r"'no_such_module_xyz' \(custom_imports of .*b\.py\)"):
        Config.fromfile(strict, import_custom_modules=True)
