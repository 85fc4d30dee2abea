import numpy as np
import onnxruntime as ort
import openvino as ov
import pytest
import torch

from kdedge.export import export_onnx, quantize_onnx
from kdedge.students import ARCHITECTURES, build, count_params

IDS = torch.tensor([[3, 4, 5, 6, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7], [9, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]])


# the transformer student's config comes from its teacher: a tiny BERT's here, [CLS]=2 and [SEP]=3 added inside
TINY_BERT = {"model_type": "bert", "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 16}
TRANSFORMER = {"config": TINY_BERT, "layers": [0], "prefix": [2], "suffix": [3]}
VARIANTS = [(name, TRANSFORMER if name == "transformer" else {}) for name in sorted(ARCHITECTURES)] + [
    ("mlp", {"pooling": "attention"}),
    ("mlp", {"pooling": "context", "heads": 4, "hidden": 8}),
    ("mlp", {"pooling": "recurrent"}),
]


@pytest.fixture(
    params=VARIANTS,
    ids=lambda v: f"{v[0]}-{'-'.join(f'{k}={x}' for k, x in v[1].items() if v[0] != 'transformer')}",
)
def model(request):
    torch.manual_seed(0)
    name, options = request.param
    return build(name, 500, 3, **options).eval()


def test_forward_shapes_and_padding_invariance(model):
    logits = model(IDS)
    assert logits.shape == (4, 3) and torch.isfinite(logits).all()  # the empty last text too
    alone = model(IDS[:1, :4])  # the same text without padding, alone in its batch
    assert torch.allclose(alone, logits[:1], atol=1e-5)


def test_reference_mlp_size():
    assert count_params(build("mlp", 5000, 6, dim=16, pooling="mean")) == 5000 * 16 + 16 * 6 + 6
    assert count_params(build("mlp", 5000, 6, dim=16, pooling="attention")) == 5000 * 16 + 17 + 16 * 6 + 6
    assert count_params(build("mlp", 5000, 6, dim=16, pooling="context")) == 5000 * 16 + 49 + 16 * 6 + 6
    gru = 3 * (16 * 8 + 8 * 8 + 2 * 8)  # input, recurrent and two bias blocks per gate
    assert count_params(build("mlp", 5000, 6, dim=16, pooling="recurrent")) == 5000 * 16 + gru + 9 + 16 * 6 + 6


def test_exports_to_onnx_and_openvino(model, tmp_path):
    export_onnx(model, IDS[:2, :5], tmp_path / "m.onnx")
    quantize_onnx(tmp_path / "m.onnx", tmp_path / "m.int8.onnx")
    reference = model(IDS).detach().numpy()
    for ids in (IDS, IDS[:1, :2], IDS[1:2]):  # dynamic batch and sequence length
        expected = model(ids).detach().numpy()
        onnx_out = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input_ids": ids.numpy()})[0]
        assert np.abs(onnx_out - expected).max() < 1e-4
    compiled = ov.Core().compile_model(str(tmp_path / "m.onnx"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    assert np.abs(compiled(IDS.numpy())[0] - reference).max() < 1e-4
    int8 = ort.InferenceSession(str(tmp_path / "m.int8.onnx")).run(None, {"input_ids": IDS.numpy()})[0]
    assert np.abs(int8 - reference).max() < 0.05


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown student"):
        build("gpt", 10, 2)


def test_length_batches_cover_every_row_once_and_group_similar_lengths():
    from kdedge.students import epoch_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=3000)
    ids = torch.zeros((3000, 40), dtype=torch.int64)
    for row, length in enumerate(lengths):
        ids[row, :length] = 5

    def widths(by_length):
        batches = list(epoch_batches(ids, torch.Generator().manual_seed(0), 32, by_length))
        assert sorted(torch.cat(batches).tolist()) == list(range(3000))
        return np.mean([lengths[b.numpy()].max() for b in batches])

    # batches of similar length are much narrower once trimmed to their longest text
    assert widths(True) < 0.6 * widths(False)
    first = [b.tolist() for b in epoch_batches(ids, torch.Generator().manual_seed(1), 32, True)]
    again = [b.tolist() for b in epoch_batches(ids, torch.Generator().manual_seed(1), 32, True)]
    assert first == again


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_student_trained_on_a_gpu_learns_as_on_the_cpu_and_ends_on_the_cpu():
    from kdedge.students import fit

    rng = np.random.default_rng(0)
    ids = rng.integers(2, 50, size=(2000, 6))
    labels = (ids == 7).any(1).astype(np.int64)  # whether word 7 occurs: learnable in a few epochs
    accuracies = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        student = build("bilstm", 50, 2)
        report = fit(student, ids[:1500], labels[:1500], ids[1500:], labels[1500:], epochs=5, lr=1e-2, device=device)
        assert {p.device.type for p in student.parameters()} == {"cpu"}
        accuracies.append(report["best_val_accuracy"])
    assert min(accuracies) > 0.9 and abs(accuracies[0] - accuracies[1]) < 0.03
