"""One image reader: every path that reads a user's image goes through posekit/data/images.py (EXIF orientation,
16-bit scaling, alpha and palettes), so that prepare, predict, --backgrounds, the Python API and show read the same
file the same way."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from posekit.cli import app

ROOT = Path(__file__).resolve().parents[1] / "posekit"
READER = "data/images.py"
# other modules that may decode images, each with its reason
ALLOWED = {
    ("data/h5format.py", "decode_image"): "decodes the JPEG/PNG bytes posekit itself encoded into a workspace split "
                                          "(8-bit RGB by construction), never a user's file",
}
OPENERS = {("Image", "open"), ("PIL.Image", "open"), ("cv2", "imread"), ("cv2", "imdecode"), ("imageio", "imread"),
           ("imageio", "imopen"), ("iio", "imread"), ("imageio.v3", "imread"), ("skimage.io", "imread")}


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return "?"


def image_reads(path: Path) -> list[tuple[str, int]]:
    """(enclosing function, line) of each call that decodes an image file in ``path``."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
                owner = dotted(child.func.value)
                if (owner, child.func.attr) in OPENERS or (child.func.attr == "imread"):
                    found.append((function, child.lineno))
            elif isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id in ("imread",):
                found.append((function, child.lineno))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_only_the_reader_opens_image_files():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == READER:
            continue
        offenders += [f"posekit/{rel}:{line} ({fn})" for fn, line in image_reads(path) if (rel, fn) not in ALLOWED]
    assert not offenders, "decode user images with posekit.data.images (open_rgb, open_labels): " + ", ".join(offenders)


def test_the_scan_finds_a_direct_open(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from PIL import Image\n\ndef f(p):\n    with Image.open(p) as im:\n        return im.convert('RGB')\n"
                    "\ndef g(p):\n    import cv2\n    return cv2.imread(p)\n")
    assert image_reads(path) == [("f", 4), ("g", 9)]
    assert image_reads(ROOT / READER)  # the reader itself is seen, and exempt


def gradient16() -> np.ndarray:
    """A 16-bit grey ramp over the whole range: clipped to 8 bits it would be almost all white."""
    y, x = np.mgrid[0:48, 0:64]
    return ((x * 37 + y * 53) % 64 * 1040).astype(np.uint16)


def save_pair(tmp: Path) -> tuple[Path, Path]:
    values = gradient16()
    deep, flat = tmp / "deep", tmp / "flat"
    deep.mkdir()
    flat.mkdir()
    Image.fromarray(values).save(deep / "bg.png")
    Image.fromarray(np.round(values / 257).astype(np.uint8)).save(flat / "bg.png")
    with Image.open(deep / "bg.png") as im:
        assert im.mode.startswith("I")  # truly stored at 16 bits
    return deep, flat


def test_a_16_bit_background_is_stored_like_its_8_bit_version(tmp_path):
    from posekit.data.dataset import H5KeypointDataset

    deep, flat = save_pair(tmp_path)
    stored = []
    for folder in (deep, flat):
        ws = tmp_path / f"ws-{folder.name}"
        result = CliRunner().invoke(app, ["-w", str(ws), "prepare", "synthetic", "--backgrounds", str(folder), "--size",
                                          "32", "--num-train", "3", "--num-val", "0", "--num-test", "1", "--workers", "1"])
        assert result.exit_code == 0, result.output
        ds = H5KeypointDataset(ws / "data/synth_src/train.h5")
        stored.append(np.stack([ds.read_image(i) for i in range(len(ds))]).astype(np.float64))
    assert np.abs(stored[0] - stored[1]).mean() < 2.0  # the same backgrounds (a 16-bit file clipped: ~100)
    assert stored[0].mean() < 200  # not the white of a clipped 16-bit image


def test_the_api_reads_a_16_bit_pil_image_as_its_file(tmp_path):
    from posekit.predictor import as_rgb

    deep, flat = save_pair(tmp_path)
    with Image.open(deep / "bg.png") as im:
        from_pil = as_rgb(im, "image 0")
    assert np.array_equal(from_pil, as_rgb(deep / "bg.png", "image 0"))
    assert np.abs(from_pil.astype(int) - as_rgb(flat / "bg.png", "image 0").astype(int)).max() <= 1
