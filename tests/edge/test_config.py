"""Configuration: flags over environment over file; anything unusable exits 2 with a reason."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_agent.cli import main
from edge_agent.config import AgentSettings, ConfigError, env_var, flag, load_settings
from edge_agent.outbox import Spool
from tests.edge.conftest import REPO

REQUIRED = {
    "source": "synthetic:1",
    "server": "http://127.0.0.1:9",
    "vehicle_id": "car-1",
    "spool": "spool",
    "model": "net_c.onnx",
    "token": "t",
}


def our_variables() -> list[str]:
    return [name for name in os.environ if name.startswith("LATENTLINK_")]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No LATENTLINK_* variables from the machine running the tests."""
    for name in our_variables():
        monkeypatch.delenv(name)
    return monkeypatch


def test_flags_beat_environment_beat_file(tmp_path: Path, clean_env) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        'fps = 1.0\nthreads = 3\ncamera = "rear"\nproviders = ["CPUExecutionProvider"]\n'
    )
    clean_env.setenv("LATENTLINK_EDGE_FPS", "2.5")
    clean_env.setenv("LATENTLINK_EDGE_THREADS", "4")
    settings = load_settings({**REQUIRED, "threads": "5", "fps": None}, config)
    assert (settings.fps, settings.threads, settings.camera) == (2.5, 5, "rear")
    assert settings.spool_max_bytes == 1 << 30 and settings.frame_size == (360, 480)


def test_the_token_can_come_from_a_file(tmp_path: Path, clean_env) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    flags = {**REQUIRED, "token": None, "token_file": str(tmp_path / "token")}
    assert load_settings(flags).bearer_token() == "s3cret"


def test_problems_name_the_flag_and_the_variable(clean_env) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({**REQUIRED, "fps": "-1", "vehicle_id": "car 1", "server": None})
    text = str(error.value)
    assert "--fps (LATENTLINK_EDGE_FPS): Input should be greater than 0" in text
    assert "--vehicle-id (LATENTLINK_EDGE_VEHICLE_ID): String should match pattern" in text
    assert "--server (LATENTLINK_EDGE_SERVER): required" in text


def run_cli(tmp_path: Path, model: Path, *changes: str) -> tuple[int, str]:
    flags = [
        "--source",
        "synthetic:1",
        "--server",
        "http://127.0.0.1:9",
        "--token",
        "t",
        "--vehicle-id",
        "car-1",
        "--spool",
        str(tmp_path / "spool"),
        "--model",
        str(model),
    ]
    unset = dict.fromkeys(our_variables())
    result = CliRunner().invoke(main, ["run", *flags, *changes], env=unset)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (["--fps", "fast"], "--fps (LATENTLINK_EDGE_FPS): Input should be a valid number"),
        (["--server", "ftp://x"], "URL scheme should be 'http' or 'https'"),
        (["--spool-max-bytes", "lots"], "could not parse value and unit from byte string"),
        (["--model", "/nonexistent.onnx"], "ONNX model /nonexistent.onnx does not exist"),
        (["--providers", "TPUExecutionProvider"], "TPUExecutionProvider not available"),
        (["--source", "/nonexistent"], "no such path"),
        (["--token-file", "/nonexistent"], "give exactly one of --token and --token-file"),
        (["--log-format", "xml"], "'xml' is not one of 'text', 'json'"),
        (["--config", "/nonexistent.toml"], "--config: /nonexistent.toml is not a file"),
    ],
)
def test_bad_configuration_exits_2(tmp_path, onnx_model, changes, message) -> None:
    code, output = run_cli(tmp_path, onnx_model, *changes)
    assert code == 2, output
    assert message in output
    assert not (tmp_path / "spool").exists(), "a configuration error left a spool folder"


def test_unknown_config_file_keys_exit_2(tmp_path, onnx_model) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("frames_per_second = 3\n")
    code, output = run_cli(tmp_path, onnx_model, "--config", str(config))
    assert code == 2 and "frames_per_second: Extra inputs are not permitted" in output


def test_a_spool_in_use_exits_2(tmp_path, onnx_model) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    try:
        code, output = run_cli(tmp_path, onnx_model)
    finally:
        spool.close()
    assert code == 2 and "in use by another edge-agent" in output


def test_help_documents_every_setting() -> None:
    output = CliRunner().invoke(main, ["run", "--help"], terminal_width=200).output
    for name in AgentSettings.model_fields:
        assert flag(name) in output and env_var(name) in output


def test_docs_table_lists_every_setting() -> None:
    section = (REPO / "docs" / "edge.md").read_text().split("## Configuration", 1)[1]
    rows = re.findall(r"^\| `(--[\w-]+)` \| `(\w+)` \|", section.split("\n## ", 1)[0], re.M)
    assert rows == [(flag(name), env_var(name)) for name in AgentSettings.model_fields]
