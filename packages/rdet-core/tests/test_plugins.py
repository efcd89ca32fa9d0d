"""Entry-point plugins, with fake installed distributions written into a temporary folder."""

import sys
import textwrap

import pytest

from rdet_core import PluginError, Registry, UnknownTypeError, list_plugins, plugins


def _install(site, dist, version, entry_points, modules):
    """A minimal installed distribution: a .dist-info folder plus its modules, on ``site``."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = []
    for group, items in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in items.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, source in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("fake_"):
            del sys.modules[name]
    plugins.refresh()


def test_plugin_found_by_name_without_importing_it(site):
    reg = Registry("plugtest_models")
    _install(
        site,
        "fake-good",
        "1.2.3",
        {"rdet.plugtest_models": {"GoodNet": "fake_good_mod:GoodNet"}},
        {"fake_good_mod": "class GoodNet:\n    def __init__(self, depth=1):\n        self.depth = depth\n"},
    )
    assert "fake_good_mod" not in sys.modules
    net = reg.build(dict(type="GoodNet", depth=18))
    assert type(net).__name__ == "GoodNet" and net.depth == 18
    assert "fake_good_mod" in sys.modules  # imported on demand
    rows = [r for r in list_plugins() if r.registry == "plugtest_models"]
    assert [(r.name, r.distribution, r.version, r.status) for r in rows] == [
        ("GoodNet", "fake-good", "1.2.3", "ok")
    ]


def test_broken_plugin_is_reported_and_does_not_break_others(site):
    reg = Registry("plugtest_broken")
    _install(
        site,
        "fake-broken",
        "0.0.1",
        {"rdet.plugtest_broken": {"BrokenNet": "fake_broken_mod:BrokenNet"}},
        {"fake_broken_mod": "import a_module_that_does_not_exist\n"},
    )
    _install(
        site,
        "fake-fine",
        "2.0",
        {"rdet.plugtest_broken": {"FineNet": "fake_fine_mod:FineNet"}},
        {"fake_fine_mod": "class FineNet:\n    pass\n"},
    )
    reg.register_module(name="BuiltIn", module=type("BuiltIn", (), {}))
    with pytest.raises(PluginError) as info:
        reg.build(dict(type="BrokenNet"))
    message = str(info.value)
    assert "fake-broken 0.0.1" in message and "a_module_that_does_not_exist" in message
    # other names still work, built in or from another plugin
    assert type(reg.build(dict(type="FineNet"))).__name__ == "FineNet"
    assert type(reg.build(dict(type="BuiltIn"))).__name__ == "BuiltIn"
    # the failure is remembered, not retried
    with pytest.raises(PluginError, match="fake-broken"):
        reg.get("BrokenNet")
    statuses = {r.name: r.status for r in list_plugins() if r.registry == "plugtest_broken"}
    assert statuses["FineNet"] == "ok" and statuses["BuiltIn"] == "built-in"
    assert (
        statuses["BrokenNet"].startswith("error:") and "a_module_that_does_not_exist" in statuses["BrokenNet"]
    )


def test_two_distributions_claiming_one_name_is_an_error_naming_both(site):
    reg = Registry("plugtest_conflict")
    for dist in ("fake-one", "fake-two"):
        mod = dist.replace("-", "_") + "_mod"
        _install(
            site,
            dist,
            "1.0",
            {"rdet.plugtest_conflict": {"Same": f"{mod}:Same"}},
            {mod: "class Same:\n    pass\n"},
        )
    with pytest.raises(PluginError) as info:
        reg.get("Same")
    assert "fake-one" in str(info.value) and "fake-two" in str(info.value)
    rows = [r for r in list_plugins() if r.registry == "plugtest_conflict"]
    assert len(rows) == 2 and all(r.status.startswith("conflict: also claimed by fake-") for r in rows)


def test_built_in_names_win_over_plugins(site):
    reg = Registry("plugtest_shadow")

    @reg.register_module()
    class Shadowed:
        pass

    _install(
        site,
        "fake-shadow",
        "1.0",
        {"rdet.plugtest_shadow": {"Shadowed": "fake_shadow_mod:Other"}},
        {"fake_shadow_mod": "class Other:\n    pass\n"},
    )
    with pytest.warns(
        UserWarning,
        match=r"'Shadowed' in the 'plugtest_shadow' registry is built in and also declared by plugin fake-shadow 1.0",
    ):
        assert reg.get("Shadowed") is Shadowed
    assert reg.get("Shadowed") is Shadowed  # warned once
    assert "fake_shadow_mod" not in sys.modules
    row = next(
        r for r in list_plugins() if r.registry == "plugtest_shadow" and r.distribution == "fake-shadow"
    )
    assert row.status == "shadowed by built-in"


def test_unknown_name_suggests_plugin_names_too(site):
    reg = Registry("plugtest_suggest")
    _install(
        site,
        "fake-sugg",
        "1.0",
        {"rdet.plugtest_suggest": {"OrientedThing": "fake_sugg_mod:X"}},
        {"fake_sugg_mod": "class X:\n    pass\n"},
    )
    with pytest.raises(UnknownTypeError, match="Closest names: OrientedThing"):
        reg.build(dict(type="OrientedThin"))


def test_groups_that_no_registry_reads_are_flagged(site):
    _install(
        site,
        "fake-lonely",
        "3.1",
        {"rdet.plugtest_nowhere": {"Lonely": "fake_lonely_mod:L"}},
        {"fake_lonely_mod": "class L:\n    pass\n"},
    )
    for load in (False, True):
        rows = [r for r in list_plugins(load=load) if r.registry == "plugtest_nowhere"]
        assert [(r.name, r.distribution) for r in rows] == [("Lonely", "fake-lonely")]
        assert rows[0].status.startswith("unknown group: no rdet registry reads 'rdet.plugtest_nowhere'")


def test_listing_from_names_imports_no_plugin(site):
    """Given RegistryNames (e.g. an index of built-in names), nothing is imported to list."""
    _install(
        site,
        "fake-listed",
        "4.2",
        {
            "rdet.plugtest_listed": {
                "Fresh": "fake_listed_mod:Fresh",
                "Builtin": "fake_listed_mod:Fresh",  # shadowed by a built-in
                "Gone": "fake_listed_missing:Gone",  # its module is not installed
                "Deep": "fake_listed_mod.sub:Deep",  # fake_listed_mod is a module, not a package
            },
            "rdet.plugtest_sibling": {"Shared": "fake_listed_mod:Fresh"},  # built into a sibling
        },
        {"fake_listed_mod": "raise RuntimeError('imported while listing')\n"},
    )
    views = [
        plugins.RegistryNames(
            "plugtest_listed", "rdet.plugtest_listed", "plugtest_ns", {"Builtin": ("core-dist", "9.9")}
        ),
        plugins.RegistryNames("plugtest_sibling", "rdet.plugtest_sibling", "plugtest_ns", {}),
        plugins.RegistryNames(
            "plugtest_other", "rdet.plugtest_other", "plugtest_ns", {"Shared": ("core-dist", "9.9")}
        ),
    ]
    rows = {(r.registry, r.name, r.distribution): (r.version, r.status) for r in list_plugins(False, views)}
    assert rows[("plugtest_listed", "Builtin", "core-dist")] == ("9.9", "built-in")
    assert rows[("plugtest_listed", "Builtin", "fake-listed")] == ("4.2", "shadowed by built-in")
    assert rows[("plugtest_listed", "Fresh", "fake-listed")] == ("4.2", "not loaded")
    assert rows[("plugtest_listed", "Gone", "fake-listed")] == (
        "4.2",
        "error: ModuleNotFoundError: No module named 'fake_listed_missing'",
    )
    assert rows[("plugtest_listed", "Deep", "fake-listed")][1] == (
        "error: ModuleNotFoundError: No module named 'fake_listed_mod.sub'; "
        "'fake_listed_mod' is not a package"
    )
    shared = rows[("plugtest_sibling", "Shared", "fake-listed")][1]
    assert shared.startswith("conflict: 'Shared' is built into the 'plugtest_other' registry")
    assert "namespace 'plugtest_ns'" in shared
    assert "fake_listed_mod" not in sys.modules
    # loading reports the import error of the module that the listing only found
    loaded = {r.name: r.status for r in list_plugins(True, views) if r.registry == "plugtest_listed"}
    assert loaded["Fresh"] == "error: RuntimeError: imported while listing"
    assert loaded["Builtin"] == "shadowed by built-in"  # a shadowed plugin is never imported


def test_submodule_of_a_plugin_package_is_found_without_running_it(site):
    pkg = site / "fake_pkgplug"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('package imported while listing')\n")
    (pkg / "det.py").write_text("class Det:\n    pass\n")
    _install(
        site,
        "fake-pkgplug",
        "1.0",
        {"rdet.plugtest_pkg": {"Det": "fake_pkgplug.det:Det", "Nope": "fake_pkgplug.nope:Nope"}},
        {},
    )
    views = [plugins.RegistryNames("plugtest_pkg", "rdet.plugtest_pkg", None, {})]
    rows = list_plugins(load=False, registries=views)
    status = {r.name: r.status for r in rows if r.registry == "plugtest_pkg"}
    assert status == {
        "Det": "not loaded",
        "Nope": "error: ModuleNotFoundError: No module named 'fake_pkgplug.nope'",
    }
    assert "fake_pkgplug" not in sys.modules


def test_registry_names_of_a_live_registry(site):
    reg = Registry("plugtest_live", namespace="plugtest_live_ns")

    @reg.register_module()
    class Local:
        pass

    _install(
        site,
        "fake-live",
        "0.3",
        {"rdet.plugtest_live": {"Loaded": "fake_live_mod:Loaded"}},
        {"fake_live_mod": "class Loaded:\n    pass\n"},
    )
    assert reg.get("Loaded").__name__ == "Loaded"
    view = plugins.registry_names(reg)
    assert (view.name, view.entry_point_group, view.namespace) == (
        "plugtest_live",
        "rdet.plugtest_live",
        "plugtest_live_ns",
    )
    assert set(view.builtins) == {"Local"} and view.loaded_plugins == {"Loaded"}
    # the same rows whether the registry is read live or through its names
    live = [r for r in list_plugins(load=False) if r.registry == "plugtest_live"]
    assert live == [r for r in list_plugins(load=False, registries=[view]) if r.registry == "plugtest_live"]
    assert {r.name: r.status for r in live} == {"Local": "built-in", "Loaded": "ok"}


def test_namespace_conflict_is_flagged_before_loading(site):
    models = Registry("plugtest_ns_models", namespace="plugtest_ns2")
    Registry("plugtest_ns_coders", namespace="plugtest_ns2")

    @models.register_module()
    class FocalThing:
        pass

    _install(
        site,
        "fake-nsclash",
        "1.0",
        {"rdet.plugtest_ns_coders": {"FocalThing": "fake_nsclash_mod:FocalThing"}},
        {"fake_nsclash_mod": "class FocalThing:\n    pass\n"},
    )
    for load in (False, True):
        row = next(r for r in list_plugins(load=load) if r.distribution == "fake-nsclash")
        assert row.registry == "plugtest_ns_coders" and row.status.startswith(
            "conflict: 'FocalThing' is built into the 'plugtest_ns_models' registry"
        )
    assert "fake_nsclash_mod" not in sys.modules


def test_installed_version(site):
    _install(site, "fake-versioned", "7.1.2", {}, {})
    assert plugins.installed_version("fake-versioned") == "7.1.2"
    assert plugins.installed_version("fake_Versioned") == "7.1.2"  # names compare as pip does
    assert plugins.installed_version("fake-not-installed-anywhere") is None
