"""Files that are no checkpoint: one ``ValueError`` naming the file, whatever the unpickler
would have raised (a text file gave ``KeyError: 101``), and never an invitation to load an
image with ``weights_only=False``; real checkpoints load as before."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from rdet_models.checkpoint import UnsafeCheckpointError, load_checkpoint, read_checkpoint

_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


def _zip_of_other_things() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "not a checkpoint")
    return buf.getvalue()


def _truncated_checkpoint() -> bytes:
    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(64)}}, buf)
    data = buf.getvalue()
    return data[: len(data) // 2]


def _legacy_garbage() -> bytes:
    return b"\x80\x02garbage" * 8


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"hello\n", "not a PyTorch checkpoint: it starts with b'hello\\n'"),
        (_PNG, "not a PyTorch checkpoint: it starts with b'\\x89PNG"),
        (_zip_of_other_things(), "not a PyTorch checkpoint, or a corrupt or truncated one"),
        (_truncated_checkpoint(), "not a PyTorch checkpoint, or a corrupt or truncated one"),
        (_legacy_garbage(), "not a PyTorch checkpoint, or a corrupt or truncated one"),
        (pickle.dumps({"a": 1}, protocol=4), "not a PyTorch checkpoint, or a corrupt or truncated one"),
    ],
    ids=["text", "png", "zip", "truncated", "legacy-garbage", "plain-pickle"],
)
@pytest.mark.parametrize("weights_only", [True, False])
def test_a_file_that_is_no_checkpoint_is_one_error_naming_it(
    tmp_path: Path, content: bytes, says: str, weights_only: bool
) -> None:
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        read_checkpoint(path, weights_only=weights_only)
    message = str(err.value)
    assert str(path) in message and says in message, message
    assert not isinstance(err.value, UnsafeCheckpointError)
    assert "weights_only=False" not in message  # never invites an unsafe load of such a file


def test_a_png_is_refused_before_any_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(_PNG)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load must not see this file")

    monkeypatch.setattr(torch, "load", never)
    with pytest.raises(ValueError, match="a.png: not a PyTorch checkpoint"):
        load_checkpoint(torch.nn.Linear(2, 2), path)


class _Payload:
    """Stands for anything a weights-only load must refuse."""


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_real_checkpoints_still_load_and_unsafe_ones_are_still_refused(tmp_path: Path, zipped: bool) -> None:
    net = torch.nn.Linear(2, 2)
    good, unsafe = tmp_path / "good.pth", tmp_path / "unsafe.pth"
    torch.save({"state_dict": net.state_dict()}, good, _use_new_zipfile_serialization=zipped)
    torch.save(
        {"state_dict": net.state_dict(), "meta": {"obj": _Payload()}},
        unsafe,
        _use_new_zipfile_serialization=zipped,
    )
    loaded = read_checkpoint(good)
    assert torch.equal(loaded["state_dict"]["weight"], net.weight.detach())
    with pytest.raises(UnsafeCheckpointError, match="unsafe.pth") as err:
        read_checkpoint(unsafe)
    assert "_Payload" in str(err.value) and "weights_only=False" in str(err.value)
    assert isinstance(read_checkpoint(unsafe, weights_only=False)["meta"]["obj"], _Payload)
