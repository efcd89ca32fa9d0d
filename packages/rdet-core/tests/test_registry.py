import sys

import pytest

from rdet_core import Registry, UnknownTypeError, build_from_cfg, plugins
from rdet_core.registry import RegistryConflictError, all_registries


@pytest.fixture
def things() -> Registry:
    return Registry("test_things")


def test_register_by_decorator_and_build_with_defaults(things):
    @things.register_module()
    class Widget:
        def __init__(self, size, colour="red"):
            self.size, self.colour = size, colour

    w = things.build(dict(type="Widget", size=3), colour="blue")
    assert (w.size, w.colour) == (3, "blue")
    w = things.build(dict(type="Widget", size=3, colour="green"), colour="blue")
    assert w.colour == "green"  # the config wins over default_args
    assert "Widget" in things and things.get("Widget") is Widget and len(things) == 1


def test_register_under_other_names_and_functions(things):
    @things.register_module(name=["A", "B"])
    def make(x=1):
        return ("made", x)

    things.register_module(name="C", module=make)
    assert things.build(dict(type="B", x=2)) == ("made", 2)
    assert sorted(things.keys()) == ["A", "B", "C"]


def test_duplicate_name_needs_force(things):
    @things.register_module()
    class Dup:
        pass

    with pytest.raises(KeyError, match="already registered"):

        @things.register_module(name="Dup")
        class Other:
            pass

    @things.register_module(name="Dup", force=True)
    class Replacement:
        pass

    assert things.get("Dup") is Replacement


def test_bad_registration_arguments(things):
    with pytest.raises(TypeError, match="force must be a bool"):
        things.register_module(force=1)
    with pytest.raises(TypeError, match="name must be"):
        things.register_module(name=3)
    with pytest.raises(TypeError, match="only classes and functions"):
        things.register_module(name="x", module=42)


def test_unknown_type_lists_closest_names_and_plugin_group(things):
    for name in ("RotatedRetinaNet", "RotatedFCOS", "OrientedRCNN"):
        things.register_module(name=name, module=type(name, (), {}))
    with pytest.raises(UnknownTypeError) as info:
        things.build(dict(type="RotatedRetinaNett"))
    message = str(info.value)
    assert "'RotatedRetinaNett' is not in the 'test_things' registry" in message
    assert "Closest names: RotatedRetinaNet" in message
    assert "rdet.test_things" in message  # where plugins come from
    assert isinstance(info.value, KeyError)  # MMCV raised KeyError: keep code that catches it working


def test_build_errors_name_the_problem(things):
    @things.register_module()
    class Strict:
        def __init__(self, a):
            self.a = a

    with pytest.raises(TypeError, match="Strict: .*unexpected keyword argument 'b'"):
        things.build(dict(type="Strict", a=1, b=2))
    with pytest.raises(KeyError, match="needs a 'type' key"):
        things.build(dict(a=1))
    with pytest.raises(TypeError, match="must be a dict"):
        things.build(["Strict"])
    with pytest.raises(TypeError, match="'type' must be a str"):
        things.build(dict(type=3))


def test_type_may_be_a_class_and_names_may_be_scoped(things):
    class Direct:
        def __init__(self, v):
            self.v = v

    assert build_from_cfg(dict(type=Direct, v=5), things).v == 5
    things.register_module(name="ResNet", module=Direct)
    # MMCV's scoped names ('mmdet.ResNet') resolve in rdet's flat registries
    assert things.build(dict(type="mmdet.ResNet", v=1)).v == 1


def test_build_does_not_change_the_config(things):
    things.register_module(name="K", module=lambda **kw: kw)
    cfg = dict(type="K", a=[1, 2])
    assert things.build(cfg) == {"a": [1, 2]}
    assert cfg == dict(type="K", a=[1, 2])


def test_custom_build_func():
    seen = []
    reg = Registry(
        "test_custom_build", build_func=lambda cfg, registry, **kw: seen.append((cfg, registry, kw)) or 7
    )
    assert reg.build(dict(type="X"), extra=1) == 7
    assert seen == [(dict(type="X"), reg, {"extra": 1})]


# -- a second registry taking an existing name --------------------------------------------------


def test_a_second_registry_with_an_existing_name_is_an_error_naming_both():
    first = Registry("regtest_twice")
    with pytest.raises(RegistryConflictError) as info:
        Registry("regtest_twice")
    message = str(info.value)
    assert "a second registry takes the name 'regtest_twice'" in message
    # where each was created: this module, two different lines
    assert message.count(f"{__name__} line ") == 2
    assert isinstance(info.value, KeyError)
    assert all_registries()["regtest_twice"] is first  # the first one stays


def test_a_second_registry_reading_an_existing_entry_point_group_is_an_error():
    Registry("regtest_group_a", entry_point_group="rdet.regtest_shared_group")
    with pytest.raises(RegistryConflictError, match="entry-point group 'rdet.regtest_shared_group'"):
        Registry("regtest_group_b", entry_point_group="rdet.regtest_shared_group")
    # a registry whose default group (rdet.<name>) another one already reads
    with pytest.raises(RegistryConflictError, match="entry-point group 'rdet.regtest_shared_group'"):
        Registry("regtest_shared_group")


def test_the_same_line_again_replaces_the_registry():
    # importlib.reload of a module, or a fixture run once per test, re-runs the same line
    made = [Registry("regtest_reloaded") for _ in range(2)]
    assert made[0] is not made[1]
    assert all_registries()["regtest_reloaded"] is made[1]


def test_subclass_creation_site_is_the_callers_line():
    class MyRegistry(Registry):
        def __init__(self, name: str) -> None:
            super().__init__(name, namespace="regtest_sub")

    reg = MyRegistry("regtest_subclassed")
    assert reg.origin.startswith(f"{__name__} line ")
    assert "namespace='regtest_sub'" in repr(reg)


# -- one config look-up, several registries: a namespace ----------------------------------------


def test_a_name_in_two_registries_of_one_namespace_is_an_error_naming_both():
    coders = Registry("regtest_ns_coders", namespace="regtest_ns")
    models = Registry("regtest_ns_models", namespace="regtest_ns")
    assert coders.siblings() == [models] and models.siblings() == [coders]

    @coders.register_module(name="Shared")
    class CoderThing:
        pass

    with pytest.raises(RegistryConflictError) as info:

        @models.register_module(name="Shared")
        class ModelThing:
            pass

    message = str(info.value)
    assert "'Shared' is ambiguous in namespace 'regtest_ns'" in message
    assert "'regtest_ns_coders' registry has" in message and "'regtest_ns_models' registry" in message
    assert f"{__name__}.{CoderThing.__qualname__}" in message
    assert "ModelThing" in message
    assert "Shared" not in models  # nothing was registered
    with pytest.raises(RegistryConflictError):  # force replaces within a registry only
        models.register_module(name="Shared", force=True, module=type("Other", (), {}))


def test_namespace_registration_of_a_name_list_is_all_or_nothing():
    a = Registry("regtest_atomic_a", namespace="regtest_atomic")
    b = Registry("regtest_atomic_b", namespace="regtest_atomic")
    a.register_module(name="Taken", module=type("Taken", (), {}))
    with pytest.raises(RegistryConflictError):
        b.register_module(name=["Free", "Taken"], module=type("Other", (), {}))
    assert "Free" not in b.module_dict


def test_same_object_or_other_namespaces_are_not_conflicts():
    a = Registry("regtest_free_a", namespace="regtest_free")
    b = Registry("regtest_free_b", namespace="regtest_free")
    c = Registry("regtest_free_c")  # no namespace: its own look-up
    d = Registry("regtest_free_d", namespace="regtest_other")

    class Same:
        pass

    a.register_module(module=Same)
    b.register_module(module=Same)  # one object under one name: the look-up is not ambiguous
    c.register_module(name="Same", module=type("Same", (), {}))
    d.register_module(name="Same", module=type("Same", (), {}))
    assert a.get("Same") is b.get("Same") is Same
    assert c.siblings() == [] and d.siblings() == []


def _fake_distribution(site, dist: str, group: str, name: str, module: str) -> None:
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}:{name}\n")
    (site / f"{module}.py").write_text(f"class {name}:\n    pass\n")


def test_a_plugin_taking_a_name_of_another_registry_of_its_namespace_is_an_error(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    try:
        coders = Registry("regtest_plug_coders", namespace="regtest_plug")
        models = Registry("regtest_plug_models", namespace="regtest_plug")

        @coders.register_module()
        class PluggedName:
            pass

        _fake_distribution(
            tmp_path, "fake-regtest", "rdet.regtest_plug_models", "PluggedName", "fake_regtest_mod"
        )
        with pytest.raises(RegistryConflictError) as info:
            models.get("PluggedName")
        message = str(info.value)
        assert "'regtest_plug_coders' registry has" in message
        assert "fake_regtest_mod.PluggedName" in message and "rdet.regtest_plug_models" in message
        assert coders.get("PluggedName") is PluggedName  # the other registry is unaffected
    finally:
        sys.modules.pop("fake_regtest_mod", None)
        plugins.refresh()


# -- built-ins imported on first use: Registry(builtins=...) --------------------------------------


def _builtins_module(site, module: str, registry: str, names: list[str], extra: str = "") -> None:
    """A module that registers a class per name in ``registry`` (found by name), as a package's
    built-ins module does."""
    classes = "".join(f"\n@REG.register_module()\nclass {n}:\n    pass\n" for n in names)
    (site / f"{module}.py").write_text(
        f"from rdet_core.registry import all_registries\nREG = all_registries()[{registry!r}]\n"
        f"{classes}{extra}"
    )


@pytest.fixture
def lazy_site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith(("regtest_lazy_", "fake_regtest_lazy"))]:
        del sys.modules[name]
    plugins.refresh()


@pytest.mark.parametrize(
    "read",
    [
        lambda r: r.get("LazyA"),
        lambda r: r.build(dict(type="LazyA")),
        lambda r: r.keys(),
        lambda r: "LazyA" in r,
        lambda r: list(r),
        lambda r: len(r),
        lambda r: r.module_dict,
        lambda r: plugins.registry_names(r),
    ],
    ids=["get", "build", "keys", "contains", "iter", "len", "module_dict", "registry_names"],
)
def test_built_ins_are_imported_once_on_the_first_read(lazy_site, read):
    # the module reads the registry while it imports (its own registrations, then `in`): no re-entry
    _builtins_module(
        lazy_site, "regtest_lazy_mod", "regtest_lazy", ["LazyA", "LazyB"], "assert 'LazyA' in REG\n"
    )
    reg = Registry("regtest_lazy", builtins=("regtest_lazy_mod",))
    assert not reg.builtins_imported and "built-ins not imported yet" in repr(reg)
    assert "regtest_lazy_mod" not in sys.modules  # creating the registry imports nothing
    read(reg)
    assert reg.builtins_imported and "regtest_lazy_mod" in sys.modules
    del sys.modules["regtest_lazy_mod"]
    assert sorted(reg) == ["LazyA", "LazyB"] and reg.get("LazyB").__module__ == "regtest_lazy_mod"
    assert "regtest_lazy_mod" not in sys.modules  # not imported a second time


def test_a_built_ins_module_that_fails_to_import_raises_and_is_retried(lazy_site):
    (lazy_site / "regtest_lazy_broken.py").write_text("raise RuntimeError('half-installed')\n")
    reg = Registry("regtest_lazy_retry", builtins=("regtest_lazy_broken",))
    with pytest.raises(RuntimeError, match="half-installed"):
        reg.get("Fixed")
    assert not reg.builtins_imported
    _builtins_module(lazy_site, "regtest_lazy_broken", "regtest_lazy_retry", ["Fixed"])
    assert reg.get("Fixed").__name__ == "Fixed" and reg.builtins_imported


def test_registering_a_name_of_a_lazy_built_in_is_an_error(lazy_site):
    _builtins_module(lazy_site, "regtest_lazy_taken", "regtest_lazy_dup", ["Taken"])
    reg = Registry("regtest_lazy_dup", builtins=("regtest_lazy_taken",))
    with pytest.raises(KeyError, match="'Taken' is already registered in the 'regtest_lazy_dup' registry"):

        @reg.register_module()
        class Taken:  # e.g. a custom_imports module of a config
            pass

    assert reg.get("Taken").__module__ == "regtest_lazy_taken"


def test_a_plugin_taking_the_name_of_a_lazy_built_in_of_its_namespace_is_an_error(lazy_site):
    # as test_a_plugin_taking_a_name_of_another_registry_of_its_namespace_is_an_error, with the
    # coders' built-in not yet imported when the models registry loads the plugin
    _builtins_module(lazy_site, "regtest_lazy_coders_mod", "regtest_lazy_coders", ["PluggedLazy"])
    coders = Registry(
        "regtest_lazy_coders", namespace="regtest_lazy_ns", builtins=("regtest_lazy_coders_mod",)
    )
    models = Registry("regtest_lazy_models", namespace="regtest_lazy_ns")
    _fake_distribution(
        lazy_site, "fake-regtest-lazy", "rdet.regtest_lazy_models", "PluggedLazy", "fake_regtest_lazy_mod"
    )
    assert not coders.builtins_imported
    with pytest.raises(RegistryConflictError) as info:
        models.get("PluggedLazy")
    message = str(info.value)
    assert "'regtest_lazy_coders' registry has regtest_lazy_coders_mod.PluggedLazy" in message
    assert "fake_regtest_lazy_mod.PluggedLazy" in message and "rdet.regtest_lazy_models" in message
    assert "PluggedLazy" not in models.module_dict
    assert coders.get("PluggedLazy").__module__ == "regtest_lazy_coders_mod"  # unaffected
    row = next(r for r in plugins.list_plugins(load=False) if r.distribution == "fake-regtest-lazy")
    assert row.status.startswith("conflict: 'PluggedLazy' is built into the 'regtest_lazy_coders' registry")


def test_builtins_must_be_a_sequence_of_module_names():
    with pytest.raises(TypeError, match="builtins must be a sequence of module names"):
        Registry("regtest_lazy_str", builtins="regtest_lazy_mod")
