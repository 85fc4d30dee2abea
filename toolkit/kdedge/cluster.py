"""Corpus-scale labeling on a Ray cluster: the only kdedge module that imports Ray (the `kdedge[ray]` extra).

Ray Data reads the corpus (JSONL, Parquet or plain-text files; one file or a folder; a local path or any fsspec
URL) and streams it through a pool of actors, each running the teacher; the driver collects the labelled rows and
writes them as Parquet shards (`softlabels.ShardFolder`). The driver writes, not the actors, because Ray retries
the batches of a killed worker: rows reach the driver only from batches that finished, and the driver drops any
text it has already written, so every text lands in exactly one shard. Texts already in the folder's shards are
dropped before the teacher runs, which makes the job resumable and a re-run of a finished job a no-op.
"""

from __future__ import annotations

import contextlib
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import DataError, KdedgeError
from .softlabels import ShardFolder, canonical, check_form, text_key

# Corpus formats by file suffix (a .gz after the suffix is read compressed).
FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".txt": "text"}


def corpus_files(corpus: str) -> tuple[list[str], str, object]:
    """The corpus's files (sorted), their format and the pyarrow filesystem to read them with.

    `corpus` is a file or a folder, a local path or an fsspec URL (s3://, gs://, memory://, ...)."""
    import fsspec
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    try:
        fs, path = fsspec.core.url_to_fs(corpus)
        files = [path] if fs.isfile(path) else sorted(fs.find(path)) if fs.isdir(path) else []
    except (ImportError, ValueError, OSError) as err:
        raise DataError(f"{corpus}: cannot open ({err})") from None
    files = [f for f in files if not f.rsplit("/", 1)[-1].startswith(".")]  # hidden files, partial downloads
    if not files:
        raise DataError(f"{corpus}: no such file or folder, or an empty folder")
    kinds = {FORMATS.get(Path(f.removesuffix(".gz")).suffix) for f in files}
    if None in kinds or len(kinds) > 1:
        raise DataError(f"{corpus}: expected files of one format (.jsonl/.json, .parquet or .txt; .gz allowed)")
    if "file" in ({fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)):
        return [os.path.realpath(f) for f in files], kinds.pop(), None  # pyarrow does not follow symlinks
    return files, kinds.pop(), PyFileSystem(FSSpecHandler(fs))


def read_corpus(corpus: str, text_column: str = "text"):
    """The corpus as a Ray dataset with one string column, "text"."""

    try:
        return _read_corpus(corpus, text_column)
    except FileNotFoundError as err:
        raise DataError(f"{corpus}: cannot read {err}") from None


def _read_corpus(corpus: str, text_column: str):
    import ray

    files, kind, filesystem = corpus_files(corpus)
    compressed = {"arrow_open_stream_args": {"compression": "gzip"}} if files[0].endswith(".gz") else {}
    if kind == "text":
        return ray.data.read_text(files, filesystem=filesystem, file_extensions=None, **compressed)
    if kind == "parquet":
        dataset = ray.data.read_parquet(files, filesystem=filesystem, columns=[text_column])
    else:
        dataset = ray.data.read_json(files, lines=True, filesystem=filesystem, file_extensions=None, **compressed)
    names = dataset.columns()
    if text_column not in names:
        raise DataError(f"{corpus}: no column {text_column!r} (has {', '.join(names)})")
    dataset = dataset.select_columns([text_column])
    return dataset.rename_columns({text_column: "text"}) if text_column != "text" else dataset


class _LabelActor:
    """One teacher in one Ray actor: canonicalises a batch, drops texts already labelled and duplicates within
    the batch, runs the teacher on the rest. Also reports its busy time and memory, for the benchmark."""

    def __init__(self, files_ref: list, form: str, batch_size: int, threads: int, done_ref: list) -> None:
        import ray

        from .teacher import Labeler

        self.labeler = Labeler(_materialise(ray.get(files_ref[0])), form, batch_size, threads)
        self.done = ray.get(done_ref[0])
        self.actor = f"{ray.get_runtime_context().get_node_id()[:8]}:{os.getpid()}"

    def __call__(self, batch: dict) -> dict:
        called = time.time()  # wall clock, comparable across the processes of a machine
        started = time.perf_counter()
        texts = [canonical(str(t)) for t in batch["text"]]
        keys = np.array([text_key(t) for t in texts], dtype=np.int64)
        seen = np.zeros(len(keys), dtype=bool)
        if len(self.done):  # sorted: a binary search per key, not a sort of millions of keys per batch
            at = np.minimum(np.searchsorted(self.done, keys), len(self.done) - 1)
            seen = self.done[at] == keys
        _, first = np.unique(keys, return_index=True)
        keep = np.zeros(len(keys), dtype=bool)
        keep[first] = True
        keep &= ~seen
        index = np.flatnonzero(keep)
        texts = [texts[i] for i in index]
        logits = self.labeler(texts) if texts else np.zeros((0, len(self.labeler.label_names)), np.float32)
        seconds = time.perf_counter() - started
        rss_mb = peak_rss_mb()
        return {
            "key": keys[index],
            "text": np.array(texts, dtype=object),
            "logits": logits.astype(np.float32),
            # per-batch figures, spread over the rows so that sums come out right
            "busy_s": np.full(len(index), seconds / max(len(index), 1)),
            "rows_in": np.full(len(index), len(keys) / max(len(index), 1)),
            "actor": np.array([self.actor] * len(index), dtype=object),
            "rss_mb": np.full(len(index), rss_mb),
            "called": np.full(len(index), called),
            "returned": np.full(len(index), called + seconds),
        }


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's peak across exec)."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def node_has_amx() -> list[bool]:
    """AMX (bf16 matmuls in hardware) on every alive node of the cluster, one probe task pinned to each."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from .teacher import has_amx

    probe = ray.remote(num_cpus=0)(has_amx)
    nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
    pinned = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)) for n in nodes]
    return ray.get([task.remote() for task in pinned])


def choose_form(teacher_dir: Path, log=print) -> tuple[Path, str]:
    """The fastest form measured for the cluster's nodes (benchmarks/results/label-throughput-*): torch bf16
    where every node has AMX, else the ONNX Runtime int8 export (made once from a torch teacher and cached).
    One form for the whole job, so that one output folder never mixes forms."""
    import json

    from .distill import cache_dir
    from .teacher import TEACHER_FILE, Teacher

    exported = "fingerprint" in json.loads((teacher_dir / TEACHER_FILE).read_text(encoding="utf-8"))
    if exported:
        return teacher_dir, "onnxruntime-int8"
    if all(node_has_amx()):
        return teacher_dir, "torch-bf16"
    from .export import export_teacher

    onnx = cache_dir() / "exports" / Teacher.from_pretrained(teacher_dir).fingerprint
    if not (onnx / TEACHER_FILE).is_file():
        log(f"a node has no AMX: exporting the teacher to ONNX for ONNX Runtime int8 ({onnx})")
        export_teacher(teacher_dir, onnx, log=log)
    return onnx, "onnxruntime-int8"


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    """A teacher folder's files, to ship to the actors through Ray's object store (no shared disk needed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _materialise(files: dict[str, bytes]) -> Path:
    """The shipped teacher as a folder on this node, named by its content: the actors of a node share one
    copy, later jobs reuse it, and a killed actor leaves no new copy behind for each restart."""
    import hashlib
    import shutil

    digest = hashlib.sha256()
    for name, payload in sorted(files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(payload).digest())
    folder = Path(tempfile.gettempdir()) / "kdedge-teachers" / digest.hexdigest()[:24]
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    for name, payload in files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(payload)
    try:
        tmp.rename(folder)  # atomic; fails if another actor of this node was first, whose copy is the same
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def label_corpus(
    corpus: str,
    out: str | Path,
    teacher_dir: str | Path,
    form: str = "auto",
    address: str | None = None,
    text_column: str = "text",
    batch_size: int = 64,
    actors: int | None = None,
    threads: int = 1,
    rows_per_call: int = 1024,
    shard_rows: int = 10000,
    progress: bool = True,
    log=print,
) -> dict:
    """Label every text of `corpus` not yet in the shard folder `out` on the Ray cluster at `address` (None: the
    local cluster started with `ray start`, else a new one in this process). Returns statistics of the run."""
    import ray

    from .teacher import Labeler

    started, job_started = time.perf_counter(), time.time()
    ray.init(address=address, logging_level="ERROR", log_to_driver=False, ignore_reinit_error=True)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress
    context.print_on_execution_start = False
    teacher_dir = Path(teacher_dir)
    if form == "auto":
        teacher_dir, form = choose_form(teacher_dir, log)
    check_form(form)
    local = Labeler(teacher_dir, form, batch_size, threads)  # checks the folder here, with one-line errors
    shards = ShardFolder(out, local.fingerprint, local.label_names, form)
    del local
    done = shards.keys()
    before = len(shards.shards())
    resources = ray.cluster_resources()
    actors = actors or max(1, int(resources.get("CPU", 1)) // threads - 1)
    dataset = read_corpus(corpus, text_column).map_batches(
        _LabelActor,
        batch_size=rows_per_call,
        batch_format="numpy",
        concurrency=actors,
        num_cpus=threads,
        fn_constructor_kwargs={
            "files_ref": [ray.put(_folder_bytes(teacher_dir))],
            "form": form,
            "batch_size": batch_size,
            "threads": threads,
            "done_ref": [ray.put(done)],
        },
    )
    written = set(done.tolist())
    pending: dict[str, list] = {"key": [], "text": [], "logits": []}
    per_actor: dict[str, dict] = {}
    rows_in = new = duplicates = 0
    busy = 0.0
    called, returned, calls = float("inf"), 0.0, set()

    def flush() -> None:
        if pending["key"]:
            shards.write(np.array(pending["key"]), pending["text"], np.stack(pending["logits"]))
            for column in pending.values():
                column.clear()

    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
            if len(batch["called"]):
                calls.update(batch["called"].tolist())  # each call's start time identifies it
                called = min(called, float(batch["called"].min()))
                returned = max(returned, float(batch["returned"].max()))
            rows_in += round(float(batch["rows_in"].sum()))  # of the calls that labelled something
            busy += float(batch["busy_s"].sum())
            for actor in set(batch["actor"].tolist()):
                mine = batch["actor"] == actor
                stats = per_actor.setdefault(actor, {"texts": 0, "busy_s": 0.0, "peak_rss_mb": 0.0})
                stats["texts"] += int(mine.sum())
                stats["busy_s"] += float(batch["busy_s"][mine].sum())
                stats["peak_rss_mb"] = max(stats["peak_rss_mb"], float(batch["rss_mb"][mine].max()))
            for key, text, logits in zip(batch["key"].tolist(), batch["text"], batch["logits"]):
                if key in written:  # a text in two batches, or a batch Ray ran again after a worker died
                    duplicates += 1
                    continue
                written.add(key)
                pending["key"].append(key)
                pending["text"].append(text)
                pending["logits"].append(logits)
                new += 1
                if len(pending["key"]) >= shard_rows:
                    flush()
        flush()
    except ray.exceptions.RayError as err:
        raise KdedgeError(f"the Ray job failed: {str(err).splitlines()[0]}") from None
    elapsed = time.perf_counter() - started
    span = max(0.0, returned - called)  # from the first teacher call to the last one's end
    for stats in per_actor.values():
        stats["texts_per_s"] = round(stats["texts"] / stats["busy_s"], 1) if stats["busy_s"] else None
        stats["busy_s"] = round(stats["busy_s"], 2)
    calls = max(1, len(calls))
    return {
        "corpus": corpus,
        "out": str(out),
        "form": form,
        "teacher": str(teacher_dir),
        "texts_read": rows_in,
        "newly_labelled": new,
        "already_labelled": len(done),
        "duplicates_dropped": duplicates,
        "shards_before": before,
        "shards_after": len(shards.shards()),
        "seconds": round(elapsed, 2),
        "texts_per_second": round(new / elapsed, 1) if new else None,
        "actors": actors,
        "threads_per_actor": threads,
        "rows_per_call": rows_per_call,
        # start-up until the first teacher call: connect, plan, start the actors, ship and load the teacher
        "start_s": round(called - job_started, 2) if busy else None,
        "teacher_busy_s": round(busy, 2),
        "calls": calls,
        "calls_span_s": round(span, 2),
        # time the actors were not running the teacher between the first call and the last, per call: waiting for
        # input (reading), handing batches over, scheduling; with fewer calls than actors this includes idling
        "overhead_per_call_ms": round(1000 * max(0.0, actors * span - busy) / calls, 2) if busy else None,
        "pool_utilisation": round(busy / (actors * span), 3) if span else None,
        "per_actor": per_actor,
        "driver_peak_rss_mb": round(peak_rss_mb(), 1),
        "driver_cpu_s": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
        "cluster": {"nodes": len([n for n in ray.nodes() if n["Alive"]]), "cpus": resources.get("CPU")},
    }


def _free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


# Every port a node opens, so that two clusters on one machine (tests, benchmarks, other users) never collide.
_PORTS = (
    "node-manager-port",
    "object-manager-port",
    "metrics-export-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
)


def cluster_processes(temp_dir: str) -> list:
    """The processes of the cluster in `temp_dir`: those whose command line names it, and their children (the
    workers, whose command line Ray rewrites). `ray stop` would stop every Ray cluster on the machine."""
    import psutil

    found = {}
    for proc in psutil.process_iter(["cmdline"]):
        if temp_dir in " ".join(proc.info["cmdline"] or []):
            found[proc.pid] = proc
            with contextlib.suppress(psutil.Error):
                found.update({child.pid: child for child in proc.children(recursive=True)})
    return list(found.values())


@contextlib.contextmanager
def local_cluster(nodes: int = 2, cpus: int = 2, object_store_mb: int = 200, env: dict | None = None):
    """A Ray cluster of `nodes` nodes on 127.0.0.1 (`ray start --head`, then `ray start --address` for each
    other node), in a temp dir and on free ports of its own; yields {"address", "temp_dir", "env"}, kills exactly
    its processes at the end, also on error. Drivers connect with the yielded "env". For tests and benchmarks
    on one machine."""
    import shutil
    import subprocess
    import sys

    import psutil

    ray = str(Path(sys.executable).with_name("ray"))
    temp_dir = tempfile.mkdtemp(prefix="kdray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    # Token authentication off, explicitly: with RAY_AUTH_MODE unset, a node enables it when ~/.ray/auth_token
    # exists (a plain `ray.init()` anywhere on the machine writes one), and a driver may then not match.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", **(env or {})}
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus), "--disable-usage-stats"]
    common += ["--object-store-memory", str(object_store_mb * 2**20)]
    # all ports in one call, so that they are distinct: Ray's gRPC servers bind with SO_REUSEPORT, and two of
    # them sharing a port number split the connections between them (seen: "InvalidAuthToken" from the wrong one)
    head_port, *ports = _free_ports(1 + nodes * len(_PORTS))
    address = f"127.0.0.1:{head_port}"
    try:
        for node in range(nodes):
            mine = ports[node * len(_PORTS) : (node + 1) * len(_PORTS)]
            command = [ray, "start", *common, *(f"--{n}={p}" for n, p in zip(_PORTS, mine))]
            if node == 0:
                command += ["--head", f"--port={head_port}", "--temp-dir", temp_dir, "--include-dashboard=false"]
            else:
                command += ["--address", address]
            proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                raise KdedgeError(f"ray start failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1]}")
        yield {"address": address, "temp_dir": temp_dir, "env": env}  # drivers run with `env`
    finally:
        for proc in cluster_processes(temp_dir):
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(cluster_processes(temp_dir), timeout=30)
        shutil.rmtree(temp_dir, ignore_errors=True)  # the session's logs and sockets
