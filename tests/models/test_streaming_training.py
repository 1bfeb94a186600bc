"""Training and attribution accept a streamed set through the same interface as an in-memory one;
mixed precision (CPU bf16 autocast) runs through the training code path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attriflow.data.real.vision import ArrayDecoder
from attriflow.data.streaming import StreamingSet, batches
from attriflow.errors import UserError
from attriflow.models.runs import load_run
from attriflow.models.spec import normalise_spec
from attriflow.models.training import train_run
from attriflow.models.training_data import Splits, merge_views
from tests.models.conftest import make_set, tiny_spec


def streamed(data) -> StreamingSet:
    """The same images as uint8 rows behind a decoder, decoded one item at a time."""
    array = np.rint(data.images.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
    return StreamingSet(list(range(len(array))), ArrayDecoder(array), data.targets.clone(), data.task,
                        data.images.shape[1], class_names=list(data.class_names), name=data.name)


def quantised(data):
    """The in-memory set with exactly the pixels the streamed form decodes (uint8 / 255)."""
    return streamed(data).materialise(progress=False)


@pytest.fixture(scope="module")
def sets():
    parts = [make_set("multiclass", n, seed=s) for n, s in ((96, 0), (32, 1), (32, 2))]
    return Splits(*(quantised(p) for p in parts)), Splits(*(streamed(p) for p in parts))


def test_streamed_and_in_memory_training_agree_bitwise(tmp_path, sets):
    memory, stream = sets
    spec = tiny_spec(epochs=2)
    a = train_run(spec, tmp_path / "memory", data=memory)
    b = train_run(spec, tmp_path / "stream", data=stream)
    c = train_run({**spec, "num_workers": 1}, tmp_path / "workers", data=stream)
    assert a["test"] == b["test"] == c["test"] and a["test"]["accuracy"] > a["chance"]["accuracy"]
    wa, wb = load_run(tmp_path / "memory")[0].state_dict(), load_run(tmp_path / "workers")[0].state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # the order of items does not depend on the workers


def test_bf16_autocast_runs_on_the_cpu_in_the_training_loop(tmp_path, sets, monkeypatch):
    memory, _ = sets
    seen = []
    import attriflow.models.training as training

    original = training.build_model

    def hooked(*args, **kwargs):
        model, report = original(*args, **kwargs)
        first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        first.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
        return model, report

    monkeypatch.setattr(training, "build_model", hooked)
    fp32 = train_run(tiny_spec(epochs=1, amp="off"), tmp_path / "fp32", data=memory)
    n_fp32 = len(seen)
    bf16 = train_run(tiny_spec(epochs=1, amp="bf16"), tmp_path / "bf16", data=memory)
    assert set(seen[:n_fp32]) == {torch.float32} and torch.bfloat16 in set(seen[n_fp32:])
    assert bf16["amp"] == "bf16" and fp32["amp"] == "off" and bf16["test"] != fp32["test"]
    assert np.isfinite(bf16["test"]["loss"])
    model, _ = load_run(tmp_path / "bf16")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay float32


def test_amp_values_and_the_older_boolean_form():
    assert normalise_spec(tiny_spec(amp=True))["amp"] == "fp16"
    assert normalise_spec(tiny_spec(amp=False))["amp"] == "off"
    with pytest.raises(UserError, match="spec key 'amp': 'half' is not one of off, fp16, bf16"):
        normalise_spec(tiny_spec(amp="half"))


def test_batches_of_both_forms_are_identical(sets):
    memory, stream = sets
    a = torch.cat([x for x, _ in batches(memory.test, 5)])
    b = torch.cat([x for x, _ in batches(stream.test, 5, num_workers=1)])
    assert torch.equal(a, b) and torch.equal(stream.test.subset(slice(3, 9)).targets, memory.test.targets[3:9])


def test_streamed_views_are_not_merged(sets):
    _, stream = sets
    with pytest.raises(UserError, match="streamed real sets: train on one view at a time"):
        merge_views([stream.train, stream.test])


def test_a_run_on_a_real_view_trains_and_attributes_in_chunks(tmp_path, capsys):
    """CIFAR-10 in its pickled layout: trained from the files, then `attriflow attribute` streams its test split."""
    from attriflow.attribution import load_attributions
    from attriflow.cli import main
    from attriflow.data import load_dataset
    from tests.data import miniatures

    root = tmp_path / "data"
    miniatures.cifar10(root / "cifar10", per_batch=12)
    spec = tiny_spec(dataset="cifar10", data_root=str(root), epochs=1, batch_size=16, image_size=16)
    result = train_run(spec, tmp_path / "runs" / "c10", data=None)
    assert result["n_train"] + result["n_val"] == 60 and result["n_test"] == 12
    out = tmp_path / "maps.npz"
    assert main(["attribute", "--run", str(tmp_path / "runs" / "c10"), "--method", "gradient", "--split", "test",
                 "--chunk", "5", "--out", str(out)]) == 0, capsys.readouterr().err
    rec = load_attributions(out)
    test = load_dataset("cifar10", root, "test", image_size=16).materialise(progress=False)
    assert rec.maps.shape == (12, 16, 16)
    model, _ = load_run(tmp_path / "runs" / "c10")
    x = test.images[:3].requires_grad_(True)
    logits = model.eval()(x)
    grad, = torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), x)
    assert torch.allclose(rec.maps[:3], grad.sum(1), atol=1e-6)  # chunked streaming = the whole batch at once
