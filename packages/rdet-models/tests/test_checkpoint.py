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
