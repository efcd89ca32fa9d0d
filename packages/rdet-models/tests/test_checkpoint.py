"""Checkpoints: download once into the hub cache (a server on 127.0.0.1, never the internet),
weights-only unpickling, and strict fitting with named keys (issue 15, items 1, 14, 16, 18)."""

from __future__ import annotations

import hashlib
import http.server
import pickle
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rdet_models.checkpoint import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    UnsafeCheckpointError,
    checkpoint_url,
    load_checkpoint,
    load_state_dict,
    read_checkpoint,
)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving ``tmp_path / 'www'``: (base URL, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, downloads allowed."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("RDET_OFFLINE", raising=False)
    return tmp_path / "torch_home" / "hub" / "checkpoints"


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


def _published(folder: Path, state: dict, stem: str = "tiny") -> str:
    """Save ``state`` as ``stem-<sha256 prefix>.pth`` (as publish_model does); its file name."""
    tmp = folder / "tmp.pth"
    torch.save(state, tmp)
    sha = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    name = f"{stem}-{sha}.pth"
    tmp.rename(folder / name)
    return name


def test_url_is_downloaded_once_with_its_hash_checked(server: tuple[str, Path], hub: Path) -> None:
    base, www = server
    src = _net()
    name = _published(www, {"state_dict": src.state_dict(), "meta": {"CLASSES": ["ship"]}})
    url = f"{base}/{name}"
    net = _net()
    nn.init.zeros_(net[0].weight)
    load_checkpoint(net, url)
    assert torch.equal(net[0].weight, src[0].weight)
    assert (hub / name).is_file()
    # the second time the cache answers: the server may be gone
    (www / name).unlink()
    load_checkpoint(_net(), url)


def test_a_download_with_the_wrong_hash_is_refused_and_not_kept(server: tuple[str, Path], hub: Path) -> None:
    base, www = server
    torch.save({"state_dict": _net().state_dict()}, www / "tiny-00000000.pth")
    with pytest.raises(CheckpointNotFoundError, match="SHA-256 prefix '00000000'"):
        read_checkpoint(f"{base}/tiny-00000000.pth")
    assert not (hub / "tiny-00000000.pth").exists()


def test_unreachable_and_offline_downloads_name_the_url_and_the_cache_file(
    server: tuple[str, Path], hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = server
    with pytest.raises(CheckpointNotFoundError) as err:  # 404
        read_checkpoint(f"{base}/missing-1234abcd.pth")
    assert f"{base}/missing-1234abcd.pth" in str(err.value) and str(hub / "missing-1234abcd.pth") in str(
        err.value
    )
    monkeypatch.setenv("RDET_OFFLINE", "1")
    with pytest.raises(CheckpointNotFoundError, match="RDET_OFFLINE") as err:
        read_checkpoint("torchvision://resnet50")
    assert "https://download.pytorch.org/models/resnet50-0676ba61.pth" in str(err.value)


def test_model_zoo_names_resolve_as_mmcv() -> None:
    assert checkpoint_url("torchvision://resnet50").endswith("/resnet50-0676ba61.pth")
    assert checkpoint_url("modelzoo://resnet50") == checkpoint_url("torchvision://resnet50")
    assert checkpoint_url("torchvision://ResNet50_Weights") == checkpoint_url("torchvision://resnet50")
    # open-mmlab's deprecated names are renamed as MMCV renames them
    assert checkpoint_url("open-mmlab://resnet50_caffe") == checkpoint_url(
        "open-mmlab://detectron/resnet50_caffe"
    )
    with pytest.raises(KeyError, match="resnet50"):
        checkpoint_url("torchvision://resnet5O")


def test_mmcls_checkpoints_give_their_backbone(server: tuple[str, Path], hub: Path) -> None:
    """``mmcls://`` loads the classifier checkpoint's ``backbone.*`` keys (as MMCV)."""
    base, www = server
    src = _net()
    name = _published(www, {"state_dict": {f"backbone.{k}": v for k, v in src.state_dict().items()}})
    from rdet_models.checkpoint import extract_state_dict

    state = extract_state_dict(read_checkpoint(f"{base}/{name}"), "mmcls://x")
    assert set(state) == set(src.state_dict())


def test_strict_loading_lists_missing_unexpected_and_mismatched_keys(tmp_path: Path) -> None:
    net = _net()
    state = dict(net.state_dict())
    state["0.weight"] = torch.zeros(4, 3, 5, 5)  # wrong shape
    state.pop("2.bias")  # missing
    state["head.weight"] = torch.zeros(1)  # unexpected
    torch.save({"state_dict": state}, tmp_path / "other.pth")
    before = net[0].weight.clone()
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint(net, tmp_path / "other.pth")
    msg = str(err.value)
    assert "1 missing (2.bias)" in msg and "1 unexpected (head.weight)" in msg
    assert "0.weight: checkpoint (4, 3, 5, 5) vs model (4, 3, 3, 3)" in msg and "other.pth" in msg
    assert torch.equal(net[0].weight, before)  # nothing was loaded
    # MMCV's behaviour on request: what fits is loaded, the rest reported
    with pytest.warns(UserWarning, match="1 missing"):
        report = load_state_dict(net, state, strict=False)
    assert report.loaded == len(state) - 2 and not report.exact


def test_a_checkpoint_of_which_nothing_fits_is_an_error_even_when_not_strict() -> None:
    """MMCV warns and runs on random weights; rdet refuses."""
    other = nn.Linear(3, 2).state_dict()
    with pytest.raises(CheckpointMismatchError, match="not one key matches"):
        load_state_dict(_net(), other, strict=False)


def test_weights_only_refuses_code_and_accepts_numpy_meta(tmp_path: Path) -> None:
    net = _net()
    meta = {"seed": np.int64(3), "best_score": np.float64(0.5), "hist": np.arange(3), "CLASSES": ("a",)}
    torch.save({"state_dict": net.state_dict(), "meta": meta}, tmp_path / "np.pth")
    ckpt = read_checkpoint(tmp_path / "np.pth")
    assert ckpt["meta"]["best_score"] == 0.5 and ckpt["meta"]["hist"].tolist() == [0, 1, 2]

    torch.save({"state_dict": net.state_dict(), "meta": {"obj": _Payload()}}, tmp_path / "code.pth")
    with pytest.raises(UnsafeCheckpointError, match="code.pth") as err:
        load_checkpoint(_net(), tmp_path / "code.pth")
    assert "weights_only=False" in str(err.value)
    load_checkpoint(_net(), tmp_path / "code.pth", weights_only=False)  # the caller trusts it


class _Payload:
    """Stands for anything a weights-only load must refuse."""


@pytest.mark.parametrize("content", [b"", b"not a checkpoint\n", b"PK\x03\x04truncated"])
def test_empty_or_foreign_files_name_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises((ValueError, pickle.UnpicklingError), match="bad.pth"):
        read_checkpoint(path)


def test_missing_file() -> None:
    with pytest.raises(CheckpointNotFoundError, match="nowhere.pth"):
        read_checkpoint("/nowhere.pth")


def _resnet(width: int) -> nn.Module:
    from rdet_models import build_backbone

    torch.manual_seed(0)
    return build_backbone(dict(type="ResNet", depth=18, base_channels=width, init_cfg=None))


def test_num_batches_tracked_counters_do_not_count_as_a_fit() -> None:
    """A width-32 ResNet's checkpoint into a width-16 one: only the BatchNorms' scalar counters
    have the same shape; MMCV (and rdet before) loaded those 20 keys and ran on random weights."""
    small = _resnet(16)
    before = small.conv1.weight.clone()
    with pytest.raises(CheckpointMismatchError, match=r"not one key matches \(num_batches_tracked") as err:
        load_state_dict(small, _resnet(32).state_dict(), strict=False)
    msg = str(err.value)
    assert "20 of them num_batches_tracked counters" in msg and "100 shape-mismatched (conv1.weight" in msg
    assert torch.equal(small.conv1.weight, before)  # nothing was loaded


def _golden_model(golden_dir: Path, configs_dir: Path, **overrides: object) -> tuple[nn.Module, dict]:
    import json

    import rdet_models
    from rdet_core import Config

    case = json.loads((golden_dir / "models" / "cases.json").read_text())["retinanet_obb_le90"]
    cfg = Config.fromfile(configs_dir / case["config"])
    cfg.merge_from_dict(
        {**{k: v for k, v in case["overrides"].items() if k.startswith("model.")}, **overrides}
    )
    state = read_checkpoint(golden_dir / "models" / case["checkpoint"])["state_dict"]
    return rdet_models.build_detector(cfg.model), state


def test_a_checkpoint_that_fits_almost_nothing_is_refused_even_when_not_strict(
    golden_dir: Path, configs_dir: Path
) -> None:
    """The golden Rotated RetinaNet (ResNet-18 at width 16) into base_channels=32: only the 32-channel
    FPN output convs and head convs fit (6% of the parameters); MMCV's load_from trains the rest
    from random weights after an INFO line."""
    model, state = _golden_model(golden_dir, configs_dir, **{"model.backbone.base_channels": 32})
    with pytest.raises(
        CheckpointMismatchError, match="almost nothing fits, only 6% of its parameters"
    ) as err:
        load_state_dict(model, state, strict=False, source="retinanet.pth")
    msg = str(err.value)
    assert "retinanet.pth does not fit RotatedRetinaNet" in msg and "min_loaded" in msg
    assert (
        "100 shape-mismatched (backbone.conv1.weight" in msg
        and "not loaded (initial values): backbone.conv1" in msg
    )
    # the caller may ask for a smaller share explicitly
    with pytest.warns(UserWarning, match="most of RotatedRetinaNet is not loaded"):
        report = load_state_dict(model, state, strict=False, min_loaded=0.05)
    assert report.loaded_fraction == pytest.approx(170164 / 2969044)
    with pytest.raises(ValueError, match="min_loaded must be a share in"):
        load_state_dict(model, state, strict=False, min_loaded=1.5)


def test_legitimate_partial_loads_still_load_with_a_warning(golden_dir: Path, configs_dir: Path) -> None:
    """MMCV's lenient load stays for a backbone-only checkpoint, a head of another width and a head
    of another num_classes; under half of the parameters loaded warns "most ... is not loaded"."""
    model, state = _golden_model(golden_dir, configs_dir)
    backbone = {k: v for k, v in state.items() if k.startswith("backbone.")}
    with pytest.warns(UserWarning, match=r"does not fit RotatedRetinaNet: .*80% of the parameters loaded"):
        report = load_state_dict(model, backbone, strict=False)
    assert not report.mostly_unloaded and torch.equal(
        model.backbone.conv1.weight, state["backbone.conv1.weight"]
    )

    model, _ = _golden_model(golden_dir, configs_dir, **{"model.bbox_head.num_classes": 3})
    with pytest.warns(
        UserWarning, match=r"99\.\d% of the parameters loaded, not loaded .*bbox_head\.retina_cls"
    ):
        load_state_dict(model, state, strict=False)

    wide = {
        "model.neck.out_channels": 64,
        "model.bbox_head.in_channels": 64,
        "model.bbox_head.feat_channels": 64,
    }
    model, _ = _golden_model(golden_dir, configs_dir, **wide)
    with pytest.warns(UserWarning, match="59% of the parameters loaded") as record:
        load_state_dict(model, state, strict=False)
    assert "most of" not in str(record[0].message)

    # a ResNet-18 backbone into a detector whose neck and head hold most of the parameters
    wide = {
        "model.neck.out_channels": 128,
        "model.bbox_head.in_channels": 128,
        "model.bbox_head.feat_channels": 128,
    }
    model, _ = _golden_model(golden_dir, configs_dir, **wide)
    with pytest.warns(UserWarning, match="most of RotatedRetinaNet is not loaded") as record:
        report = load_state_dict(model, backbone, strict=False)
    assert report.mostly_unloaded and "not loaded (initial values): neck.lateral_convs (" in str(
        record[0].message
    )


def test_a_strict_mismatch_reports_the_share_loaded() -> None:
    with pytest.raises(CheckpointMismatchError, match=r"\(strict=False loads what fits\)") as err:
        load_state_dict(_resnet(16), {**_resnet(16).state_dict(), "fc.weight": torch.zeros(1)})
    assert "1 unexpected (fc.weight)" in str(err.value)
