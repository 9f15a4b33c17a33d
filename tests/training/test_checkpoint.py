"""Checkpoints: a damaged or foreign file is refused with a message naming it; saves are atomic and durable."""

import os
import pickle

import numpy as np
import pytest
import torch

from posemods.evaluate import score_checkpoint
from posemods.models import read_state_dict
from posemods.training import TrainConfig, build_model, fit
from posemods.training import checkpoint as ckpt
from posemods.training.checkpoint import read_checkpoint, save_checkpoint

# A value whose float32 bytes occur nowhere else in the file, so a test can find and flip them.
MARKER = 1.2345678


def _marked(tmp_path):
    path = tmp_path / "run" / "last.pt"
    save_checkpoint(path, config={"model": "x"}, model={"w": torch.full((64,), MARKER)}, step=3)
    return path


def _flip_one_byte_of_the_weights(path):
    data = bytearray(path.read_bytes())
    at = data.find(np.float32(MARKER).tobytes() * 4)
    assert at > 0, "the weights' bytes must be in the file"
    data[at + 1] ^= 0x01  # one bit of one weight: still a valid float, still a valid zip
    path.write_bytes(bytes(data))


def test_a_saved_checkpoint_round_trips_and_hides_its_digest(tmp_path):
    path = _marked(tmp_path)
    state = read_checkpoint(path)
    assert set(state) == {"format", "config", "model", "step"}
    assert torch.equal(state["model"]["w"], torch.full((64,), MARKER))


def test_flipped_bytes_are_refused_naming_the_file(tmp_path):
    path = _marked(tmp_path)
    _flip_one_byte_of_the_weights(path)
    # torch itself reads the damaged file without complaint: the digest is what catches it.
    raw = torch.load(path, weights_only=True)
    assert not torch.equal(raw["model"]["w"], torch.full((64,), MARKER))
    with pytest.raises(ValueError, match=rf"{path.name}'? is corrupt: the digest"):
        read_checkpoint(path)
    # A model's checkpoint= path reads the same file through read_state_dict: refused there too.
    with pytest.raises(ValueError, match="is corrupt"):
        read_state_dict(path)


def test_a_checkpoint_without_a_digest_is_refused(tmp_path):
    torch.save({"format": ckpt.FORMAT, "model": {"w": torch.zeros(2)}}, tmp_path / "nodigest.pt")
    with pytest.raises(ValueError, match=r"nodigest\.pt.*no payload digest"):
        read_checkpoint(tmp_path / "nodigest.pt")


def _damaged_files(tmp_path):
    good = _marked(tmp_path).read_bytes()
    files = {
        "empty.pt": b"",
        "truncated.pt": good[: len(good) // 2],
        "text.pt": b"epoch,loss\n1,0.5\n",
        "plain-pickle.pt": pickle.dumps([1, 2]),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    # torch files holding objects weights_only refuses (they would run code on load)
    torch.save({"weights": np.arange(3)}, tmp_path / "numpy.pt")
    return [*files, "numpy.pt"]


def test_empty_truncated_and_foreign_files_get_a_clear_error(tmp_path):
    for name in _damaged_files(tmp_path):
        for load in (read_checkpoint, read_state_dict):
            with pytest.raises(ValueError) as info:
                load(tmp_path / name)
            message = str(info.value)
            assert name in message, message
            # torch's advice to load with weights_only=False must never reach the user.
            assert "weights_only" not in message and "Weights only" not in message, message
            assert "\n" not in message, message
    with pytest.raises(ValueError, match="empty"):
        read_checkpoint(tmp_path / "empty.pt")
    with pytest.raises(ValueError, match=r"Python object \(numpy\..*\) besides tensors"):
        read_checkpoint(tmp_path / "numpy.pt")
    with pytest.raises(ValueError, match="truncated, corrupt or another kind of file"):
        read_checkpoint(tmp_path / "truncated.pt")


def test_save_fsyncs_the_file_and_its_folder_before_and_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])  # fmt: skip
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", None)), real_replace(a, b))[1])
    save_checkpoint(tmp_path / "last.pt", step=1)
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("cannot tell a folder's fd from a file's here")
    assert events == [("fsync", False), ("replace", None), ("fsync", True)]


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, step=1)

    def dies_mid_write(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, step=2)
    assert not (tmp_path / "last.pt.tmp").exists()
    monkeypatch.undo()
    assert read_checkpoint(path)["step"] == 1


def _tiny(tmp_path, **changes):
    values = dict(model="kimnet", variant="kmm", preset="tiny", input_size=(32, 32), clip_length=3,
                  train_clips=4, eval_clips=1, batch_size=4, out=str(tmp_path / "run"), progress=False,
                  threads=1, max_steps=0)  # fmt: skip
    return TrainConfig(**{**values, **changes})


def _checkpoint_of(config, path, training_state=False):
    model, _ = build_model(config, 13)
    extra = {}
    if training_state:  # what resuming needs beside the weights (never reached: the weights fail first)
        extra = dict(optimizer={}, scheduler={}, rng=ckpt.rng_state(), epoch=0, step=0, epoch_step=0,
                     epoch_losses=[], history=[])  # fmt: skip
    save_checkpoint(path, config=config.to_dict(), model=model.state_dict(), **extra)
    return path


def test_a_killed_runs_temporary_file_is_removed_when_the_run_starts_again(tmp_path):
    config = _tiny(tmp_path)
    stale = tmp_path / "run" / "last.pt.tmp"
    stale.parent.mkdir()
    stale.write_bytes(b"PK\x03\x04 half a zip")
    fit(config)
    assert not stale.exists()


def test_resuming_from_another_models_checkpoint_says_which_model_it_is_for(tmp_path):
    path = _checkpoint_of(_tiny(tmp_path, model="lstmpm", variant=None), tmp_path / "lstmpm.pt", True)
    with pytest.raises(
        ValueError, match=r"lstmpm.pt'? holds the weights of lstmpm .*kimnet .*model 'lstmpm' vs 'kimnet'"
    ):
        fit(_tiny(tmp_path, resume=str(path)))


def test_resuming_from_a_checkpoint_without_training_state_names_what_is_missing(tmp_path):
    path = _checkpoint_of(_tiny(tmp_path), tmp_path / "weights-only.pt")
    with pytest.raises(ValueError, match=r"weights-only\.pt'?: missing 'optimizer'"):
        fit(_tiny(tmp_path, resume=str(path)))


def test_evaluate_a_checkpoint_without_its_config(tmp_path):
    save_checkpoint(tmp_path / "noconfig.pt", model={"w": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"noconfig\.pt'?: missing 'config'"):
        score_checkpoint(str(tmp_path / "noconfig.pt"))


def test_evaluate_at_another_input_size_than_the_weights_fit(tmp_path):
    # VREMD's position embedding has one row per token, so its weights fix the input size.
    config = _tiny(tmp_path, model="vremd", variant=None)
    path = _checkpoint_of(config, tmp_path / "vremd.pt")
    with pytest.raises(ValueError, match=r"vremd.pt'?.*input_size \(32, 32\) vs \(64, 64\)"):
        score_checkpoint(str(path), input_size=(64, 64), progress=False)


def test_the_clis_print_a_checkpoint_problem_without_a_traceback(tmp_path, capsys):
    from posemods.evaluate import main as evaluate_main
    from posemods.train import main as train_main

    path = _marked(tmp_path)
    _flip_one_byte_of_the_weights(path)
    (tmp_path / "empty.pt").write_bytes(b"")
    tiny = ["--preset", "tiny", "--input-size", "32", "32", "--max-steps", "0", "--no-progress", "--out",
            str(tmp_path / "run2")]  # fmt: skip
    for run, expected in [
        (lambda: evaluate_main([str(path)]), "is corrupt: the digest"),
        (lambda: evaluate_main([str(tmp_path / "empty.pt")]), "the file is empty"),
        (lambda: train_main([*tiny, "--resume", str(path)]), "is corrupt: the digest"),
    ]:  # fmt: skip
        with pytest.raises(SystemExit) as exited:
            run()
        err = capsys.readouterr().err
        assert exited.value.code == 1 and expected in err and "Traceback" not in err, err
    with pytest.raises(SystemExit) as exited:
        evaluate_main([str(tmp_path / "missing.pt")])
    assert exited.value.code == 2 and "argument checkpoint: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        train_main([*tiny, "--resume", str(tmp_path / "missing.pt")])
    assert exited.value.code == 2 and "argument --resume: no such file" in capsys.readouterr().err
