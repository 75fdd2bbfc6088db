"""The encoder's files are checked data: the weights' SHA-256 at load, extraction by
encoder_install, and LOCAL_MODEL_EMBEDDINGS=auto|on|off with encoder_status()."""

from __future__ import annotations

import logging
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from support.env import env_choice
from triage import embeddings
from triage.embeddings import (
    MODEL_FILES,
    MODEL_WHEEL_PREFIX,
    EmbeddingsUnavailable,
    EncoderIntegrityError,
    MiniLMEncoder,
    embeddings_available,
    encoder_status,
    get_encoder,
)
from triage.encoder_install import files_to_install

INSTALLED = Path(django_settings.ENCODER_DIR)


def _copy_encoder(target: Path, *, tamper: str | None = None) -> Path:
    """A copy of the installed encoder; ``tamper`` flips one byte in the middle of that file."""
    target.mkdir(parents=True)
    for name in embeddings.RUNTIME_FILES:
        shutil.copyfile(INSTALLED / name, target / name)
    if tamper:
        data = bytearray((target / tamper).read_bytes())
        data[len(data) // 2] ^= 0x01
        (target / tamper).write_bytes(bytes(data))
    return target


def _wheel(path: Path, *, replace: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in MODEL_FILES:
            data = (replace or {}).get(name)
            if data is None:
                data = (INSTALLED / name).read_bytes()
            archive.writestr(MODEL_WHEEL_PREFIX + name, data)
    return path


def test_the_installed_files_are_the_recorded_ones() -> None:
    # make install (which make test depends on) put them there
    assert files_to_install(target=INSTALLED) == []


def test_a_weight_file_one_bit_off_is_refused_at_load(tmp_path: Path) -> None:
    # Given weights that still parse but are not the recorded ones
    copy = _copy_encoder(tmp_path / "encoder", tamper="model.safetensors")
    # Then the encoder refuses them, naming the file and both hashes
    with pytest.raises(EncoderIntegrityError, match=r"model\.safetensors has SHA-256 [0-9a-f]{64}, expected 53aa5117"):
        MiniLMEncoder.load(copy)


def test_a_tampered_encoder_is_broken_and_logged_as_an_error(
    tmp_path: Path, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.ENCODER_DIR = _copy_encoder(tmp_path / "encoder", tamper="model.safetensors")
    settings.LOCAL_MODEL_EMBEDDINGS = "auto"
    status = encoder_status()
    assert status.state == "broken" and "SHA-256" in status.detail
    assert not embeddings_available()  # the KB falls back to keywords
    # When a model that needs the encoder asks for it
    with caplog.at_level(logging.ERROR, logger="triage.embeddings"), pytest.raises(EncoderIntegrityError):
        get_encoder()
    # Then the failure is an ERROR in the log, not a silent downgrade
    assert [r.levelno for r in caplog.records if "SHA-256" in r.getMessage()] == [logging.ERROR]


def test_an_intact_copy_elsewhere_is_ok(tmp_path: Path, settings: Any) -> None:
    settings.ENCODER_DIR = _copy_encoder(tmp_path / "encoder")
    assert encoder_status().state == "ok"
    assert get_encoder().encode(["card"]).shape == (1, 384)


def test_off_never_uses_the_encoder(settings: Any) -> None:
    settings.LOCAL_MODEL_EMBEDDINGS = "off"
    assert encoder_status().state == "disabled"
    assert not embeddings_available()
    with pytest.raises(EmbeddingsUnavailable, match="LOCAL_MODEL_EMBEDDINGS=off"):
        get_encoder()


def test_auto_without_the_encoder_reports_it_missing_quietly(
    tmp_path: Path, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.LOCAL_MODEL_EMBEDDINGS = "auto"
    settings.ENCODER_DIR = tmp_path / "nothing-here"
    with caplog.at_level(logging.ERROR, logger="triage.embeddings"):
        status = encoder_status()
    assert status.state == "missing" and not status.required
    assert "encoder_install" in status.detail
    assert not caplog.records  # nothing needs it yet
    # ... but a model that needs it makes the failure an ERROR
    with caplog.at_level(logging.ERROR, logger="triage.embeddings"), pytest.raises(EmbeddingsUnavailable):
        get_encoder()
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


def test_on_without_the_encoder_is_an_error(tmp_path: Path, settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings.LOCAL_MODEL_EMBEDDINGS = "on"
    settings.ENCODER_DIR = tmp_path / "nothing-here"
    with caplog.at_level(logging.ERROR, logger="triage.embeddings"):
        status = encoder_status()
    assert status.state == "missing" and status.required
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


def test_on_with_the_encoder_is_ok(settings: Any) -> None:
    settings.LOCAL_MODEL_EMBEDDINGS = "on"
    assert encoder_status().state == "ok" and embeddings_available()


def test_a_mistyped_mode_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_MODEL_EMBEDDINGS", "yes")
    with pytest.raises(ImproperlyConfigured, match="LOCAL_MODEL_EMBEDDINGS must be one of auto/on/off"):
        env_choice("LOCAL_MODEL_EMBEDDINGS", "auto", ("auto", "on", "off"))
    monkeypatch.setenv("LOCAL_MODEL_EMBEDDINGS", "ON")
    assert env_choice("LOCAL_MODEL_EMBEDDINGS", "auto", ("auto", "on", "off")) == "on"


def test_encoder_install_extracts_every_file_and_then_does_nothing(tmp_path: Path, settings: Any) -> None:
    settings.ENCODER_DIR = tmp_path / "encoder"
    wheel = _wheel(tmp_path / "model.whl")
    call_command("encoder_install", "--wheel", str(wheel))
    assert files_to_install(target=settings.ENCODER_DIR) == []
    assert encoder_status().state == "ok"
    # A second run finds everything in place and rewrites nothing
    before = (settings.ENCODER_DIR / "model.safetensors").stat().st_mtime_ns
    call_command("encoder_install", "--wheel", str(tmp_path / "not-even-read.whl"))
    assert (settings.ENCODER_DIR / "model.safetensors").stat().st_mtime_ns == before


def test_encoder_install_refuses_a_file_that_is_not_the_recorded_one(tmp_path: Path, settings: Any) -> None:
    settings.ENCODER_DIR = tmp_path / "encoder"
    wheel = _wheel(tmp_path / "model.whl", replace={"config.json": b'{"hidden_size": 768}'})
    with pytest.raises(CommandError, match=r"config\.json has SHA-256"):
        call_command("encoder_install", "--wheel", str(wheel))
    # Nothing half-written is left behind, and the check says what is wrong
    assert not (settings.ENCODER_DIR / "config.json").exists()
    assert not list(settings.ENCODER_DIR.glob(".partial-*"))
    with pytest.raises(CommandError, match="config.json"):
        call_command("encoder_install", "--check")


def test_loading_the_encoder_limits_blas_to_one_thread_per_call(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    # Given a BLAS library running one thread per core, and an encoder not loaded yet
    with threadpool_limits(limits=2, user_api="blas"):
        monkeypatch.setattr(embeddings, "_encoder", None)
        settings.ENCODER_BLAS_THREADS = 1
        # When the worker loads the encoder
        get_encoder()
        # Then BLAS products run on one thread (the worker's threads give the concurrency)
        assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} == {1}


def test_on_without_the_encoder_stops_manage_py_check(tmp_path: Path, settings: Any) -> None:
    from django.core.management.base import SystemCheckError

    settings.LOCAL_MODEL_EMBEDDINGS = "on"
    settings.ENCODER_DIR = tmp_path / "nothing-here"
    with pytest.raises(SystemCheckError, match=r"triage\.E001.*sentence encoder is missing"):
        call_command("check")
    settings.LOCAL_MODEL_EMBEDDINGS = "auto"
    call_command("check")  # auto: reported by encoder_status(), not a start-up failure
