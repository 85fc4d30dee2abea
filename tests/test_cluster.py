"""Labeling on a real two-node Ray cluster on 127.0.0.1 (kdedge label --ray), against one process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import EMOTION, ROOT, read_jsonl, write_jsonl
from kdedge.augment import leak_key
from kdedge.cluster import cluster_processes, local_cluster
from kdedge.data import load_dataset
from kdedge.softlabels import ShardFolder, SoftLabels, canonical, label_texts, text_key
from kdedge.teacher import Labeler

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")


@pytest.fixture(scope="module")
def ray_cluster():
    """A head node and a second worker node (`ray start`, 2 CPUs each) on 127.0.0.1, in a temp dir and on ports
    of their own; both are killed at the end, also when a test fails."""
    env = {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "toolkit"), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    with local_cluster(nodes=2, cpus=2, env=env) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def onnx_teacher(tiny_teacher, tmp_path_factory) -> Path:
    from kdedge.export import export_teacher

    folder = tmp_path_factory.mktemp("onnx_teacher") / "teacher"
    export_teacher(tiny_teacher, folder, log=lambda m: None)
    return folder


def label_on_ray(cluster, teacher, corpus, out, *extra, wait=True):
    command = [sys.executable, "-m", "kdedge", "label", "--ray", cluster["address"], "--teacher", str(teacher)]
    command += ["--corpus", str(corpus), "--out", str(out), "--quiet", *extra]
    proc = subprocess.Popen(command, env=cluster["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    return stdout


def shard_rows(folder: Path) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    keys, rows = [], {}
    shards = ShardFolder.open_existing(folder)
    for texts, logits in shards.batches():
        for text, row in zip(texts, logits):
            keys.append(text_key(text))
            rows[keys[-1]] = row
    return np.array(keys), rows


def test_ray_labels_equal_one_process(ray_cluster, onnx_teacher, emotion_small, tmp_path):
    """4,000 real Emotion texts in two JSONL shards, on two nodes: the same logits as one process."""
    rows = read_jsonl(EMOTION / "validation.jsonl") + read_jsonl(EMOTION / "test.jsonl")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_jsonl(corpus / "part-0.jsonl", rows[:2500])
    write_jsonl(corpus / "part-1.jsonl", rows[2500:])
    out = tmp_path / "labels"
    stats_file = tmp_path / "stats.json"
    label_on_ray(ray_cluster, onnx_teacher, corpus, out, "--backend", "onnxruntime", "--output", str(stats_file))
    stats = json.loads(stats_file.read_text())
    assert stats["cluster"]["nodes"] == 2 and stats["form"] == "onnxruntime-fp32"
    keys, ray_rows = shard_rows(out)
    texts = [row["text"] for row in rows]
    assert len(keys) == len(set(keys)) == len({text_key(t) for t in texts}) == stats["newly_labelled"]
    teacher = Labeler(onnx_teacher, "onnxruntime-fp32")
    cache = SoftLabels(tmp_path / "one.npz", teacher.fingerprint, teacher.label_names, teacher.form)
    label_texts(cache, texts, teacher, progress=False)
    expected = cache.lookup(texts)
    got = np.stack([ray_rows[text_key(t)] for t in texts])
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert np.abs(got - expected).max() <= 1e-5
    identity = ShardFolder.stored_identity(next(out.glob("part-*.parquet")))
    assert identity == {"teacher": teacher.fingerprint, "form": "onnxruntime-fp32", "label_names": teacher.label_names}
    # another form of the same teacher never goes into this folder
    int8 = ["--backend", "onnxruntime", "--precision", "int8"]
    proc = label_on_ray(ray_cluster, onnx_teacher, corpus, out, *int8, wait=False)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "onnxruntime-int8" in stderr and "Traceback" not in stderr


def corpus_texts(limit: int) -> list[str]:
    return [row["text"] for row in read_jsonl(EMOTION / "train.jsonl", limit)]


def wait_for(condition, proc, timeout=120.0, poll=0.05):
    """Wait until `condition()` holds while the job `proc` still runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the job ended first (exit {proc.returncode}): {proc.stderr.read()}")
        time.sleep(poll)
    raise AssertionError("timed out")


def label_actors(temp_dir: str) -> list:
    """Worker processes of this cluster that host a teacher actor (Ray titles them after the map operator)."""
    found = []
    for proc in cluster_processes(temp_dir):
        with contextlib.suppress(psutil.Error):
            if "_LabelActor" in " ".join(proc.cmdline()):
                found.append(proc)
    return found


def test_a_killed_worker_does_not_lose_or_repeat_a_text(ray_cluster, onnx_teacher, tmp_path):
    texts = corpus_texts(12000)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "labels"
    stats_file = tmp_path / "stats.json"
    # batches of one text: slow enough that the job is still running when a worker dies
    args = ["--backend", "onnxruntime", "--batch-size", "1", "--actors", "2", "--output", str(stats_file)]
    proc = label_on_ray(ray_cluster, onnx_teacher, corpus, out, *args, wait=False)
    wait_for(lambda: len(label_actors(ray_cluster["temp_dir"])) >= 2, proc)
    time.sleep(2.0)  # let both actors start labeling
    assert proc.poll() is None, "the job finished before a worker could be killed"
    label_actors(ray_cluster["temp_dir"])[0].send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    keys, _ = shard_rows(out)
    assert len(keys) == len(set(keys.tolist()))  # no text twice
    assert set(keys.tolist()) == {text_key(t) for t in texts}  # none lost
    assert json.loads(stats_file.read_text())["newly_labelled"] == len(keys)


def test_a_killed_driver_resumes_without_relabeling(ray_cluster, onnx_teacher, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = corpus_texts(12000)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(3):  # a Parquet folder, read through an fsspec URL
        pq.write_table(pa.table({"text": texts[i * 4000 : (i + 1) * 4000]}), corpus / f"{i}.parquet")
    url = f"file://{corpus}"
    out = tmp_path / "labels"
    # one actor, so that the driver has a core of its own and writes shards as batches come in; shards of 50 rows,
    # so that the driver still has over 200 to write when it is killed, even when the actor finished long before
    args = ["--backend", "onnxruntime", "--batch-size", "1", "--actors", "1", "--shard-rows", "50"]
    proc = label_on_ray(ray_cluster, onnx_teacher, url, out, *args, wait=False)
    wait_for(lambda: any(out.glob("part-*.parquet")), proc, poll=0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = {p.name: p.read_bytes() for p in out.glob("part-*.parquet")}
    done = len(shard_rows(out)[0])
    assert 0 < done < len(set(texts))
    stats_file = tmp_path / "stats.json"
    label_on_ray(ray_cluster, onnx_teacher, url, out, *args[:2], "--output", str(stats_file))
    stats = json.loads(stats_file.read_text())
    assert stats["already_labelled"] == done
    assert stats["newly_labelled"] == len({text_key(t) for t in texts}) - done  # nothing labelled twice
    assert all((out / name).read_bytes() == data for name, data in before.items())  # finished shards untouched
    keys, _ = shard_rows(out)
    assert len(keys) == len(set(keys.tolist())) == len({text_key(t) for t in texts})
    # a re-run of the finished job changes no byte
    snapshot = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    label_on_ray(ray_cluster, onnx_teacher, url, out, *args[:2], "--output", str(stats_file))
    assert json.loads(stats_file.read_text())["newly_labelled"] == 0
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()} == snapshot


def test_distill_labels_on_ray_then_trains_from_the_shards(ray_cluster, tiny_teacher, emotion_small, tmp_path):
    texts = corpus_texts(3500)[2000:]  # train texts the small dataset does not hold
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(corpus, [{"text": t} for t in texts])
    out = tmp_path / "result.json"
    args = ["distill", "--ray", ray_cluster["address"], "--teacher", str(tiny_teacher), "--corpus", str(corpus)]
    args += ["--shards", str(tmp_path / "shards"), "--data", str(emotion_small), "--epochs", "1", "--no-bf16"]
    args += ["--augment", "0"]
    args += ["--vocab-size", "500", "--out", str(tmp_path / "student"), "--output", str(out), "--quiet"]
    env = {**ray_cluster["env"], "KDEDGE_CACHE": str(tmp_path / "cache")}  # where an ONNX export would go
    proc = subprocess.run([sys.executable, "-m", "kdedge", *args], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    dataset = load_dataset(str(emotion_small))
    known = {leak_key(t) for t in dataset.train.texts + dataset.validation.texts + dataset.test.texts}
    expected = {canonical(t) for t in texts if leak_key(t) not in known}
    assert result["transfer_set"]["corpus_texts"] == len(expected) > 1000
    assert result["corpus_form"] in ("torch-bf16", "onnxruntime-int8")  # the fastest form for these nodes
