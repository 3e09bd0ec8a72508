"""Uploads: TF.js model.json with its shards (directory or file), ONNX, batches of arrays and dicts of arrays."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest

from hessian_client import Client, HessianError
from support import GOLDEN, ONNX, TINY, load_arrays


def test_model_from_its_directory_or_its_model_json_is_the_same_upload(client: Client) -> None:
    by_dir = client.upload_model(TINY)
    by_file = client.upload_model(TINY / "model.json")
    by_str = client.upload_model(str(TINY / "model.json"))
    assert by_dir.id == by_file.id == by_str.id
    assert by_file.created is False and by_str.created is False  # content-addressed: stored once
    assert by_dir.num_params == 15  # Dense(3) on 4 features: 4*3 kernel + 3 bias
    assert [(p["name"], p["shape"]) for p in by_dir.parameters] == [
        ("dense/kernel", [4, 3]),
        ("dense/bias", [3]),
    ]
    assert str(by_dir) == by_dir.id


def test_shards_are_found_through_the_manifest_whatever_their_names(client: Client, tmp_path: Path) -> None:
    # The shard renamed, and the manifest saying so: the client reads the manifest, it does not guess names.
    model_json = json.loads((TINY / "model.json").read_text())
    model_json["weightsManifest"][0]["paths"] = ["weights/part-0.bin"]
    (tmp_path / "weights").mkdir()
    shutil.copy(TINY / "group1-shard1of1.bin", tmp_path / "weights" / "part-0.bin")
    (tmp_path / "model.json").write_text(json.dumps(model_json))
    model = client.upload_model(tmp_path)
    assert model.num_params == 15

    (tmp_path / "weights" / "part-0.bin").unlink()
    with pytest.raises(FileNotFoundError, match="part-0.bin"):
        client.upload_model(tmp_path)


def test_a_model_the_service_refuses_raises_with_its_problem(client: Client, tmp_path: Path) -> None:
    model_json = json.loads((TINY / "model.json").read_text())
    model_json["modelTopology"]["config"]["layers"][0]["class_name"] = "NoSuchLayer"
    (tmp_path / "model.json").write_text(json.dumps(model_json))
    shutil.copy(TINY / "group1-shard1of1.bin", tmp_path)
    with pytest.raises(HessianError) as caught:
        client.upload_model(tmp_path)
    assert caught.value.status == 422
    assert caught.value.code == "unsupported_layer"
    assert "NoSuchLayer" in caught.value.detail


def test_onnx_file_is_uploaded_alone(client: Client) -> None:
    case = json.loads((ONNX / "onnx_mlp" / "case.json").read_text())
    model = client.upload_model(ONNX / "onnx_mlp" / "model.onnx")
    assert model.num_params == case["numParams"] == 104
    assert [p["name"] for p in model.parameters] == case["parameterNames"]
    # A directory holding one .onnx file (and no model.json) means that file.
    assert client.upload_model(ONNX / "onnx_mlp").id == model.id


def test_batch_of_arrays(client: Client) -> None:
    inputs = np.load(TINY / "inputs.npy")
    targets = np.load(TINY / "targets.npy")
    dataset = client.upload_batch(inputs, targets)
    assert dataset.num_examples == 6
    assert {name: (a.shape, a.dtype) for name, a in dataset.arrays.items()} == {
        "inputs": ((6, 4), "float32"),
        "targets": ((6, 3), "float32"),
    }
    # Content-addressed: the same arrays (even Fortran-ordered, which the client sends in C order) are the same
    # dataset.
    again = client.upload_batch(np.asfortranarray(inputs), targets)
    assert again.id == dataset.id and again.created is False
    # Different values, a different dataset.
    assert client.upload_batch(inputs + 1, targets).id != dataset.id


def test_batch_of_dicts_is_sent_as_named_parts(client: Client) -> None:
    # Two inputs (a, b) and two outputs (cls, reg): dicts become parts inputs.a, inputs.b, targets.cls, targets.reg.
    directory = GOLDEN / "multi_io_two_outputs"
    inputs = load_arrays(directory, "inputs")
    targets = load_arrays(directory, "targets")
    assert isinstance(inputs, dict) and isinstance(targets, dict)
    dataset = client.upload_batch(inputs, targets)
    assert dataset.num_examples == 4
    assert {name: a.shape for name, a in dataset.arrays.items()} == {
        "inputs.a": (4, 3),
        "inputs.b": (4, 2),
        "targets.cls": (4, 3),
        "targets.reg": (4, 2),
    }
    # A dict of inputs with one plain targets array (two inputs, one output).
    directory = GOLDEN / "keras3_functional_two_inputs"
    mixed = client.upload_batch(load_arrays(directory, "inputs"), load_arrays(directory, "targets"))
    assert sorted(mixed.arrays) == ["inputs.x", "inputs.y", "targets"]


def test_a_batch_the_service_refuses_raises_with_its_problem(client: Client) -> None:
    with pytest.raises(HessianError) as caught:
        client.upload_batch(np.zeros((6, 4), np.float32), np.full((6, 3), np.nan, np.float32))
    assert (caught.value.status, caught.value.code) == (422, "invalid_array")
    assert "finite" in caught.value.detail

    with pytest.raises(HessianError) as caught:
        client.upload_batch(np.zeros((6, 4), np.float32), np.zeros((5, 3), np.float32))
    assert caught.value.status == 422


def test_vectors_array_upload(client: Client) -> None:
    vectors = np.random.default_rng(int(uuid.uuid4().int % 2**32)).standard_normal((2, 15)).astype(np.float32)
    stored = client.upload_array(vectors)
    assert stored.shape == (2, 15) and stored.dtype == "float32" and stored.created is True
    assert client.upload_array(vectors).id == stored.id
