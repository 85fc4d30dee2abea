"""Result files: every figure kdedge reports is written with the command, versions, data checksums and seed."""

from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from . import __version__
from .errors import KdedgeError

_LIBRARIES = (
    "torch",
    "transformers",
    "datasets",
    "numpy",
    "scikit-learn",
    "onnx",
    "onnxruntime",
    "openvino",
    "nncf",
)


def versions() -> dict[str, str]:
    """Installed versions of the libraries that shape results (read from metadata: nothing is imported)."""
    found = {"python": platform.python_version(), "kdedge": __version__}
    for name in _LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def machine() -> dict:
    """CPU model, core count and ISA features that matter for speed, and the GPUs torch sees."""
    info = {"platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    flags = cpu_flags()
    if flags:
        wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")
        info["isa"] = [flag for flag in wanted if flag in flags]
    # Only if torch is already loaded: the runtime records results too and must not import it. A result trained
    # on a GPU then says which one, not only the host's CPU.
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return info


def command_line() -> str:
    """The command that is running, as a user would type it."""
    script = Path(sys.argv[0])
    if script.name == "kdedge":
        return shlex.join(["kdedge", *sys.argv[1:]])
    if script.name == "__main__.py" and script.parent.name == "kdedge":  # python -m kdedge (argv[0] is a path)
        return shlex.join(["python", "-m", "kdedge", *sys.argv[1:]])
    return shlex.join(["python", *sys.argv])


def record(model: str, dataset: dict, split: str, metrics: dict, params: int, seed: int | None, **extra) -> dict:
    """One result record in the schema shared by baselines, teachers, students and benchmarks."""
    return {
        "model": model,
        "dataset": dataset,
        "split": split,
        **{key: metrics[key] for key in ("accuracy", "macro_f1")},
        "params": params,
        "seed": seed,
        **extra,
        "metrics": metrics,
        **record_environment(),
    }


def record_environment() -> dict:
    """Versions, machine, command and time: what every result file carries besides its figures."""
    return {
        "versions": versions(),
        "machine": machine(),
        "command": command_line(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_json(path: str | Path, data: object) -> None:
    """Write JSON atomically: a reader sees the old file or the complete new one, never half of it."""
    write_bytes(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def write_bytes(path: str | Path, payload: bytes) -> None:
    """Write a file atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; a result file is not
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _temp_prefix(path: Path) -> str:
    """Temporary names carry the writer's pid, so a later run can tell an abandoned one from a live one."""
    return f".{path.name}.{os.getpid()}-"


def remove_stale(path: Path) -> None:
    """Delete what an interrupted (killed) write of `path` left beside it: temporary files and folders of
    processes that are gone, and a previous version set aside (`.NAME.old`) during a replacement."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = leftover.name[len(path.name) + 2 :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    old = path.with_name(f".{path.name}.old")
    if old.is_dir():
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:  # killed between the two renames of a replacement: the previous version is the one to keep
            os.replace(old, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_new(path: str | Path, force: bool = False) -> None:
    """Refuse, before any work starts, to replace what kdedge did not create, unless `force`.

    A folder is never replaced without `force`. A file is replaced only when it is a kdedge result file
    (a JSON object with the command and versions that made it)."""
    path = Path(path)
    blocker = next((parent for parent in path.parents if parent.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise KdedgeError(f"{path}: {blocker} is a file, not a folder")
    if force or not path.exists():
        return
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data = None
        if isinstance(data, dict) and {"command", "versions"} <= data.keys():
            return
        raise KdedgeError(f"{path} exists and is not a kdedge result file (use --force to overwrite it)")
    raise KdedgeError(f"{path} already exists (use --force to replace it)")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_folder(path: str | Path, force: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name and rename it into place only when the block succeeds.

    An interrupted save leaves the previous folder (or nothing) behind, never a half-written one; what a killed
    save left is removed by the next save of the same folder. An existing folder is replaced only with `force`.
    """
    path = Path(path).resolve()
    check_new(path, force)
    if path.exists() and not path.is_dir():
        raise KdedgeError(f"{path} is a file, not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
