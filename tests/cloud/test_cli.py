"""``cloud-service``: help, vehicle registration, and exit status 2 for bad configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cloud_service.cli import main
from cloud_service.core.security import hash_token
from cloud_service.db.models import Vehicle
from cloud_service.db.session import make_engine, make_sessions


@pytest.mark.parametrize("command", [[], ["serve"], ["add-vehicle"]])
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_add_vehicle_prints_the_token_once_on_the_last_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["add-vehicle", "truck-7", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert len(token) >= 43 and " " not in token
    engine = make_engine(f"sqlite:///{tmp_path / 'latentlink.db'}")
    with make_sessions(engine)() as session:
        stored = session.query(Vehicle).filter_by(name="truck-7").one()
    engine.dispose()
    assert stored.token_hash == hash_token(token) and token not in stored.token_hash

    again = CliRunner().invoke(main, ["add-vehicle", "truck-7", "--data-dir", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output


@pytest.mark.parametrize(("args", "env", "message"), [
    (["add-vehicle", "bad name"], {}, "vehicle name"),
    (["serve"], {"LATENTLINK_BATCH_SIZE": "0"}, "LATENTLINK_BATCH_SIZE"),
    (["serve"], {"LATENTLINK_DEVICE": "tpu"}, "LATENTLINK_DEVICE"),
    (["serve"], {"LATENTLINK_CODEC_WEIGHTS": "/nonexistent/codec.pt"}, "does not exist"),
    (["serve"], {"LATENTLINK_SEGMENTER_WEIGHTS": "/nonexistent/seg.pt"}, "does not exist"),
    (["serve"], {"DATABASE_URL": "nosuchdb://x"}, "cannot use the database"),
    (["add-vehicle", "car"], {"DATABASE_URL": "postgresql+psycopg://u:secret@127.0.0.1:1/x"},
     "cannot use the database"),
    (["serve"], {"LATENTLINK_ADMIN_TOKEN_FILE": "/nonexistent/admin-token"},
     "LATENTLINK_ADMIN_TOKEN_FILE: cannot read /nonexistent/admin-token"),
], ids=["name", "batch", "device", "codec", "segmenter", "dialect", "unreachable", "token-file"])
def test_bad_configuration_exits_2(tmp_path: Path, codec, args: list[str], env: dict,
                                   message: str) -> None:
    env = {"LATENTLINK_CODEC_WEIGHTS": str(codec[1]), **env}
    result = CliRunner().invoke(main, [*args, "--data-dir", str(tmp_path)], env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert "secret" not in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_asking_for_a_missing_gpu_exits_2(tmp_path: Path, codec) -> None:
    env = {"LATENTLINK_CODEC_WEIGHTS": str(codec[1]), "LATENTLINK_DEVICE": "cuda"}
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path)], env=env)
    assert result.exit_code == 2 and "CUDA" in result.output
