import pytest

from rdet_core import Registry, UnknownTypeError, build_from_cfg


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
