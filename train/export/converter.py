"""llama.cpp's own HF -> GGUF converter, as the pinned llama-cpp-python source release ships it.

No PyPI package installs convert_hf_to_gguf.py: the llama-cpp-python sdist vendors llama.cpp
whole (convert_hf_to_gguf.py, its conversion/ package and the gguf-py it was written against),
but building that sdist compiles llama.cpp and still installs no converter. So the pinned sdist
is fetched with pip (`pip download`, its sha256 checked) and only those three paths (plus the
licence) are unpacked into the virtual environment's share/ folder. The converter then runs in
a subprocess with its own gguf-py first on PYTHONPATH, so that the gguf package transformers
reads GGUF with stays the pinned one from constraints.txt. It needs sentencepiece (imported on
every Llama conversion) besides torch, numpy and transformers.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from prep.core.errors import StageError

PACKAGE = "llama-cpp-python"
VERSION = "0.3.36"
SDIST = f"llama_cpp_python-{VERSION}.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
VENDOR = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/"
# What the converter needs from the vendored tree; nothing else is unpacked.
WANTED = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")
ENV = "TUNESMITH_LLAMA_CPP"
SCRIPT = "convert_hf_to_gguf.py"


def default_home() -> Path:
    return Path(sys.prefix) / "share" / "tunesmith" / f"llama.cpp-from-{PACKAGE}-{VERSION}"


def home() -> Path:
    """Where the converter is: $TUNESMITH_LLAMA_CPP, else the virtual environment's share/ folder."""
    return Path(os.environ[ENV]) if os.environ.get(ENV) else default_home()


def find() -> Path:
    """The folder holding convert_hf_to_gguf.py; StageError telling how to get it when absent."""
    folder = home()
    if (folder / SCRIPT).is_file() and (folder / "gguf-py" / "gguf").is_dir():
        return folder
    raise StageError(f"llama.cpp's converter is not in {folder}; fetch it once with "
                     f"`tunesmith export converter` (pip downloads {PACKAGE}=={VERSION} and unpacks "
                     f"{SCRIPT}), or point ${ENV} at a llama.cpp checkout")


def download(into: Path) -> Path:
    """The sdist, fetched by pip (the ordinary client, with the user's index settings) and hash-checked."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "-d", str(into),
               f"{PACKAGE}=={VERSION}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    sdist = into / SDIST
    if done.returncode != 0 or not sdist.is_file():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise StageError(f"pip could not download {PACKAGE}=={VERSION}:\n{tail}")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise StageError(f"{sdist.name} has sha256 {digest}, not the pinned {SDIST_SHA256}")
    return sdist


def unpack(sdist: Path, target: Path) -> int:
    """Only the converter's files, written under a temporary folder renamed into place; returns a count."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    count = 0
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            for member in archive.getmembers():
                rest = member.name[len(VENDOR):] if member.name.startswith(VENDOR) else ""
                if not member.isfile() or not any(rest == w or (w.endswith("/") and rest.startswith(w))
                                                  for w in WANTED):
                    continue
                path = tmp / rest
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(archive.extractfile(member).read())
                count += 1
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return count


def fetch(target: Path | None = None) -> Path:
    target = target or home()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llama-cpp-sdist-") as scratch:
        count = unpack(download(Path(scratch)), target)
    print(f"unpacked llama.cpp's {SCRIPT} ({count} files, from {PACKAGE}=={VERSION}) into {target}")
    return target


def convert(model_dir: Path, outfile: Path, outtype: str) -> str:
    """Run convert_hf_to_gguf.py on a plain HF folder; returns its last log lines."""
    folder = find()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(folder / "gguf-py"), *filter(None, [env.get("PYTHONPATH")])])
    command = [sys.executable, str(folder / SCRIPT), str(model_dir), "--outtype", outtype,
               "--outfile", str(outfile)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    log = (done.stderr + done.stdout).strip().splitlines()
    if done.returncode != 0:
        errors = [line for line in log if "Error" in line or "error" in line] or log
        hint = ("; the tokenizer's pre-tokenizer is unknown to this llama.cpp release (it only converts "
                "tokenizers it has a hash for, or SentencePiece ones)") \
            if any("pre-tokenizer was not recognized" in line for line in log) else ""
        raise StageError(f"llama.cpp's converter failed on {model_dir} (exit {done.returncode}): "
                         f"{errors[-1].strip()}{hint}")
    return "\n".join(log[-3:])
