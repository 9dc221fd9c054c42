"""Signed distance fields of meshes: sampling, scoring (IoU, Chamfer) and marching-cubes meshes.

A shape (a mesh file read by ``trimesh``, or a built-in primitive made by ``trimesh.creation``) is
centred and scaled so its bounding box's longer half-side is :data:`FIT_EXTENT` (it sits inside
[-1, 1]³ with a margin), then its signed distance ``s(p)`` (negative inside, coordinate units) is
sampled on an ``n³`` grid — the :class:`~sinetune.signals.Signal` a fit sees (``form="sdf"``, one
channel, values not rescaled) — plus :data:`NEAR_SURFACE_SHARE` as many near-surface points
(surface samples moved by ``N(0, NEAR_SURFACE_SIGMA²)`` per axis), trained on as well.

Distances: the exact point–triangle distance to the nearest of the candidate faces found through
a k-d tree of dense surface samples; signs: the nearest face's outward normal
(:func:`signed_distance`). Neither needs ``rtree`` or ``embree``. ``trimesh`` is optional
(``pip install sinetune[mesh]``); without it an SDF source is a one-line error.

Scores (:func:`sdf_metrics`): ``iou``, the intersection over union of the occupancies
``{s < 0}`` of prediction and target on the grid; ``chamfer``, the symmetric Chamfer distance
between the marching-cubes surfaces (:func:`extract_mesh`) of the two grids (:func:`chamfer_distance`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import SinetuneError
from .signals import Signal

if TYPE_CHECKING:
    import trimesh

#: Built-in shapes, made with ``trimesh.creation``.
BUILTIN_SHAPES = ("sphere", "box", "torus", "capsule")
#: Mesh files read by trimesh.
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb")
#: Half of the longer bounding-box side after normalisation (coordinate units).
FIT_EXTENT = 0.8
#: Near-surface training points as a share of the grid's samples, and their offset σ (coordinate units).
NEAR_SURFACE_SHARE = 0.25
NEAR_SURFACE_SIGMA = 0.02
#: Surface points drawn from each mesh for :func:`chamfer_distance` in :func:`sdf_metrics`.
CHAMFER_POINTS = 20000
SEED = 0


def _trimesh():
    try:
        import trimesh
    except ImportError:
        raise SinetuneError("signed distance fields need trimesh: pip install 'sinetune[mesh]'") from None
    return trimesh


def primitive(name: str) -> trimesh.Trimesh:
    """A built-in shape (:data:`BUILTIN_SHAPES`), before normalisation."""
    creation = _trimesh().creation
    shapes = {"sphere": lambda: creation.icosphere(subdivisions=3, radius=1.0),
              "box": lambda: creation.box(extents=(1.6, 1.0, 0.7)),
              "torus": lambda: creation.torus(1.0, 0.4, major_sections=32, minor_sections=16),
              "capsule": lambda: creation.capsule(height=1.2, radius=0.5, count=(16, 16))}
    if name not in shapes:
        raise SinetuneError(f"unknown shape {name!r}; built-in shapes: {', '.join(BUILTIN_SHAPES)}")
    return shapes[name]()


def load_mesh(source: str | Path) -> trimesh.Trimesh:
    """A watertight triangle mesh from a file (:data:`MESH_SUFFIXES`) or a built-in name, centred and
    scaled so its bounding box's longer half-side is :data:`FIT_EXTENT`."""
    trimesh = _trimesh()
    text = str(source)
    path = Path(text)
    if text in BUILTIN_SHAPES and not path.exists():
        mesh = primitive(text)
    else:
        if not path.is_file():
            raise SinetuneError(f"no such mesh file: {text} (built-in shapes: {', '.join(BUILTIN_SHAPES)})")
        try:
            mesh = trimesh.load(str(path), force="mesh")
        except Exception as error:  # trimesh raises many kinds for a bad file
            raise SinetuneError(f"cannot read mesh {text}: {str(error).splitlines()[0] if str(error) else error!r}"
                                ) from None
        if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
            raise SinetuneError(f"{text} holds no triangles")
    if not mesh.is_watertight:
        raise SinetuneError(f"mesh {text} is not watertight (closed), so its inside is undefined")
    low, high = mesh.bounds
    mesh = mesh.copy()
    mesh.apply_translation(-(low + high) / 2)
    mesh.apply_scale(FIT_EXTENT / (float(np.max(high - low)) / 2))
    return mesh


def signed_distance(mesh: trimesh.Trimesh, points: np.ndarray, neighbours: int = 6,
                    chunk: int = 32768) -> np.ndarray:
    """Signed distance of ``(N, 3)`` points to a closed mesh (negative inside), coordinate units.

    Distance: exact to the nearest of the candidate faces — those under the ``neighbours`` surface
    samples nearest to the point (a k-d tree over ≥ 10 area-uniform samples per face and the face
    centres). Sign: that of ``(p − c) · n_f`` for the nearest face ``f`` (closest point ``c``, outward
    normal ``n_f``); among faces within 1e-9 of the nearest distance (an edge or a vertex) the one
    whose normal is most aligned with ``p − c`` decides, which is exact unless two faces meet at
    an edge sharper than 90°. ``chunk`` points at a time.
    """
    from scipy.spatial import cKDTree
    from trimesh.triangles import closest_point

    points = np.asarray(points, dtype=np.float64)
    samples, faces = _trimesh().sample.sample_surface(mesh, max(10 * len(mesh.faces), 20000), seed=SEED)
    samples = np.concatenate([samples, np.asarray(mesh.triangles_center)])
    faces = np.concatenate([faces, np.arange(len(mesh.faces))])
    tree = cKDTree(samples)
    triangles, normals = np.asarray(mesh.triangles), np.asarray(mesh.face_normals)
    out = np.empty(len(points))
    for start in range(0, len(points), chunk):
        block = points[start:start + chunk]
        candidates = faces[tree.query(block, k=neighbours)[1]]  # (n, k)
        repeated = np.repeat(block, neighbours, axis=0)
        offset = (repeated - closest_point(triangles[candidates.reshape(-1)], repeated)).reshape(-1, neighbours, 3)
        distance = np.linalg.norm(offset, axis=-1)  # (n, k)
        alignment = np.einsum("nkc,nkc->nk", offset, normals[candidates]) / np.maximum(distance, 1e-12)
        nearest = distance.min(axis=1, keepdims=True)
        alignment = np.where(distance <= nearest + 1e-9, alignment, 0.0)
        pick = np.abs(alignment).argmax(axis=1)
        sign = np.where(alignment[np.arange(len(block)), pick] < 0, -1.0, 1.0)
        out[start:start + chunk] = sign * nearest[:, 0]
    return out


def sdf_signal(source: str | Path, resolution: int = 64) -> Signal:
    """The SDF of a mesh or built-in shape on a ``resolution³`` grid over [-1, 1]³, plus near-surface points.

    Returns:
        A :class:`Signal` with ``values`` ``(n, n, n, 1)`` float32 signed distances (``x`` along the
        last axis, as :func:`~sinetune.signals.grid_coordinates`), ``form="sdf"`` and ``points``:
        ``round(NEAR_SURFACE_SHARE · n³)`` surface samples offset by ``N(0, NEAR_SURFACE_SIGMA²)``
        with their distances (drawn with ``numpy.random.default_rng(SEED)``: the same every time).
    """
    from .signals import grid_coordinates

    if resolution < 8:
        raise SinetuneError(f"an SDF grid needs at least 8 samples per axis, got {resolution}")
    mesh = load_mesh(source)
    shape = (resolution,) * 3
    grid = grid_coordinates(shape).numpy().astype(np.float64)
    values = signed_distance(mesh, grid).reshape(shape + (1,)).astype(np.float32)
    rng = np.random.default_rng(SEED)
    count = int(round(NEAR_SURFACE_SHARE * grid.shape[0]))
    surface, _ = _trimesh().sample.sample_surface(mesh, count, seed=rng)
    near = surface + rng.normal(0.0, NEAR_SURFACE_SIGMA, surface.shape)
    near_values = signed_distance(mesh, near)[:, None]
    text = str(source)
    builtin = text in BUILTIN_SHAPES and not Path(text).exists()
    name = text if builtin else Path(text).stem
    return Signal(values=values, name=name, source=f"builtin:{text}" if builtin else str(Path(text).resolve()),
                  form="sdf", points=(near.astype(np.float32), near_values.astype(np.float32)),
                  sizing=f"SDF of {len(mesh.faces)} faces on a {resolution}³ grid + {count} near-surface points")


# --- Scores and meshes -----------------------------------------------------------------------------


def occupancy_iou(prediction: np.ndarray, target: np.ndarray) -> float:
    """``|P ∩ T| / |P ∪ T|`` of the occupancies ``P = {prediction < 0}``, ``T = {target < 0}`` (same
    shapes); 1 when both are empty."""
    inside_p, inside_t = np.asarray(prediction) < 0, np.asarray(target) < 0
    union = np.logical_or(inside_p, inside_t).sum()
    return float(np.logical_and(inside_p, inside_t).sum() / union) if union else 1.0


def chamfer_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Chamfer distance ``mean_a min_b |a − b| + mean_b min_a |a − b|`` (Euclidean, not
    squared; coordinate units) of two ``(N, 3)`` / ``(M, 3)`` point sets."""
    from scipy.spatial import cKDTree

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("chamfer_distance needs two non-empty point sets")
    return float(cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean())


def extract_mesh(grid: np.ndarray, level: float = 0.0) -> trimesh.Trimesh | None:
    """The ``level`` set of a ``(D, H, W)`` or ``(D, H, W, 1)`` SDF grid over [-1, 1]³ by marching
    cubes (scikit-image), vertices in ``(x, y, z)`` coordinates; ``None`` if the grid never crosses it."""
    from skimage.measure import marching_cubes

    trimesh = _trimesh()
    grid = np.asarray(grid, dtype=np.float32)
    grid = grid[..., 0] if grid.ndim == 4 else grid
    if not grid.min() < level < grid.max():
        return None
    spacing = tuple(2.0 / (n - 1) for n in grid.shape)
    vertices, faces, _, _ = marching_cubes(grid, level=level, spacing=spacing)
    vertices = vertices[:, ::-1] - 1.0  # (z, y, x) index order → (x, y, z) coordinates in [-1, 1]
    return trimesh.Trimesh(vertices=vertices, faces=faces[:, ::-1], process=False)


def sdf_metrics(signal: Signal, prediction: np.ndarray) -> dict:
    """``iou`` (occupancy on the grid) and ``chamfer`` (marching-cubes surfaces, :data:`CHAMFER_POINTS`
    area-uniform samples each, ``None`` if the prediction has no surface) of a predicted SDF grid."""
    metrics = {"iou": occupancy_iou(prediction, signal.values)}
    target_mesh, predicted_mesh = extract_mesh(signal.values), extract_mesh(prediction)
    chamfer = None
    if target_mesh is not None and predicted_mesh is not None:
        sample = _trimesh().sample.sample_surface
        chamfer = chamfer_distance(sample(predicted_mesh, CHAMFER_POINTS, seed=SEED)[0],
                                   sample(target_mesh, CHAMFER_POINTS, seed=SEED)[0])
    metrics["chamfer"] = chamfer
    metrics["sdf_definitions"] = ("iou: occupancy {sdf<0} on the grid; chamfer: symmetric, mean Euclidean, "
                                  f"{CHAMFER_POINTS} samples of each marching-cubes surface, coordinate units")
    return metrics


__all__ = ["BUILTIN_SHAPES", "chamfer_distance", "extract_mesh", "load_mesh", "occupancy_iou", "primitive",
           "sdf_metrics", "sdf_signal", "signed_distance"]
