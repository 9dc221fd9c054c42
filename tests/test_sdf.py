"""Signed distance fields (sinetune.sdf): sampling, IoU / Chamfer formulas, marching cubes, fits."""

from __future__ import annotations

import json

import numpy as np
import pytest

trimesh = pytest.importorskip("trimesh")

from sinetune import fit  # noqa: E402
from sinetune.config import RunConfig, SignalConfig  # noqa: E402
from sinetune.errors import SinetuneError  # noqa: E402
from sinetune.methods import TunerOptions  # noqa: E402
from sinetune.runs import prepare_fit, render_run  # noqa: E402
from sinetune.sdf import (  # noqa: E402
    FIT_EXTENT,
    chamfer_distance,
    extract_mesh,
    load_mesh,
    occupancy_iou,
    sdf_metrics,
    signed_distance,
)
from sinetune.signals import grid_coordinates, load_signal  # noqa: E402
from sinetune.training import TrainOptions  # noqa: E402


@pytest.fixture(scope="module")
def sphere():
    return load_signal("sphere", size=16)


def test_sphere_sdf_matches_the_analytic_one(sphere):
    assert sphere.kind == "sdf" and sphere.grid_shape == (16, 16, 16) and sphere.channels == 1
    coords = grid_coordinates((16, 16, 16)).numpy()
    analytic = np.linalg.norm(coords, axis=1) - FIT_EXTENT
    # the icosphere's facets sit up to ~0.006 inside the true sphere
    np.testing.assert_allclose(sphere.values.reshape(-1), analytic, atol=0.01)
    near, values = sphere.points
    assert near.shape == (1024, 3) and values.shape == (1024, 1)
    np.testing.assert_allclose(values[:, 0], np.linalg.norm(near, axis=1) - FIT_EXTENT, atol=0.01)


def test_box_signs_and_distances_are_exact():
    mesh = load_mesh("box")  # extents 1.6 × 1.0 × 0.7 → half-sides 0.8, 0.5, 0.35
    points = np.random.default_rng(0).uniform(-1, 1, (2000, 3))
    q = np.abs(points) - np.array([0.8, 0.5, 0.35])
    analytic = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)
    np.testing.assert_allclose(signed_distance(mesh, points), analytic, atol=1e-6)


def test_occupancy_iou_formula():
    target = np.ones((4, 4, 4))
    target[:2] = -1  # 32 inside
    assert occupancy_iou(target, target) == 1.0
    assert occupancy_iou(-target, target) == 0.0  # the complement
    prediction = np.ones((4, 4, 4))
    prediction[:1] = -1  # 16 inside, all within the target's 32
    assert occupancy_iou(prediction, target) == pytest.approx(16 / 32)
    assert occupancy_iou(np.ones(8), np.ones(8)) == 1.0  # both empty


def test_chamfer_formula():
    points = np.random.default_rng(0).random((50, 3))
    assert chamfer_distance(points, points) == 0.0
    assert chamfer_distance(np.zeros((1, 3)), np.array([[0.3, 0.0, 0.4]])) == pytest.approx(1.0)  # 0.5 each way
    with pytest.raises(ValueError):
        chamfer_distance(points, np.zeros((0, 3)))


def test_marching_cubes_surface_and_metrics_of_identical_fields(sphere):
    mesh = extract_mesh(sphere.values)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert abs(radii.mean() - FIT_EXTENT) < 0.02
    assert extract_mesh(np.ones((8, 8, 8))) is None
    metrics = sdf_metrics(sphere, sphere.values.copy())
    assert metrics["iou"] == 1.0 and metrics["chamfer"] == 0.0
    shifted = sdf_metrics(sphere, sphere.values + 0.1)  # a smaller sphere (radius 0.7)
    assert shifted["iou"] < 1.0 and shifted["chamfer"] == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".stl"])
def test_mesh_files_are_read_and_normalised(tmp_path, suffix):
    path = tmp_path / f"shape{suffix}"
    trimesh.creation.box(extents=(4.0, 2.0, 2.0)).apply_translation((5, 0, 0)).export(str(path))
    mesh = load_mesh(path)
    np.testing.assert_allclose(mesh.bounds, [[-0.8, -0.4, -0.4], [0.8, 0.4, 0.4]], atol=1e-9)
    signal = load_signal(path, size=8)
    assert signal.kind == "sdf" and signal.name == "shape" and signal.grid_shape == (8, 8, 8)


def test_bad_meshes_get_one_clear_error(tmp_path):
    open_mesh = trimesh.creation.box()
    open_mesh.update_faces(np.arange(len(open_mesh.faces) - 2))
    open_mesh.export(str(tmp_path / "open.ply"))
    with pytest.raises(SinetuneError, match="not watertight"):
        load_signal(tmp_path / "open.ply", size=8)
    (tmp_path / "junk.stl").write_bytes(b"not a mesh at all")
    with pytest.raises(SinetuneError, match="junk.stl"):
        load_signal(tmp_path / "junk.stl", size=8)
    with pytest.raises(SinetuneError, match="no such mesh file"):
        load_signal(tmp_path / "missing.obj", size=8)
    with pytest.raises(SinetuneError, match="size must be between"):
        load_signal("sphere", size=4)


def test_near_surface_points_are_trained_on(sphere):
    config = RunConfig(signal=SignalConfig(path="sphere", size=16),
                       options=TunerOptions(input_width=16, hidden_width=8), holdout=0.05, device="cpu")
    prepared = prepare_fit(config, sphere)
    coords, values, heldout = prepared.training_data()
    held = int(prepared.mask.sum())
    assert len(coords) == 16 ** 3 - held + 1024 and len(values) == len(coords) and len(heldout[0]) == held


def test_sdf_fit_end_to_end(tmp_path, sphere):
    fit(sphere, "tuner", options=TunerOptions(input_width=16, hidden_width=32), holdout=0.0,
        train_options=TrainOptions(steps=60, lr=5e-3), out=tmp_path / "run", device="cpu")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["kind"] == "sdf" and metrics["iou"] > 0.8 and 0 < metrics["chamfer"] < 0.1
    mesh = trimesh.load(str(tmp_path / "run" / "mesh.ply"))
    assert abs(np.linalg.norm(mesh.vertices, axis=1).mean() - FIT_EXTENT) < 0.05
    out = render_run(tmp_path / "run", size=12)
    assert out.name == "render-12x12x12.ply" and out.is_file()
