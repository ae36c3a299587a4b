"""One writer for every artifact: posekit.workspace's atomic writers (a temporary file in the target folder, then a
rename; a refused write is one line naming the path, and no temporary is left).

- the writer itself: each errno a disk or a folder refuses a write with becomes one ``WriteError`` naming the
  artifact and the cause, with no temporary left behind;
- a source scan: no module under posekit/ writes a file other than through the writer, except the internal files
  of ``ALLOWED`` (each with its reason);
- commands: ``show --out``, ``export -o`` and ``predict --out`` into a read-only folder (a real one: a subprocess
  without the capability that lets root write anywhere) and an unreadable ``--backgrounds`` image say what
  happened, in one line.

The file-size limit (``ulimit -f``) on export and predict is in tests/test_faults.py (real subprocesses).
"""

from __future__ import annotations

import ast
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from posekit.errors import PosekitError, WriteError
from posekit.workspace import (
    atomic_output,
    atomic_write_bytes,
    atomic_write_image,
    atomic_write_json,
    atomic_write_with,
    output_folder,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "posekit"
WRITER = {"posekit/workspace.py"}  # the writer's module


# -- the writer ---------------------------------------------------------------------------------------------------
def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name or p.name.endswith(".partial")]


def test_the_writer_writes_whole_files_and_replaces_old_ones(tmp_path):
    from PIL import Image

    atomic_write_json(tmp_path / "new/a.json", {"x": 1})  # a missing folder is created
    atomic_write_json(tmp_path / "new/a.json", {"x": 2})
    atomic_write_with(tmp_path / "b.txt", lambda tmp: tmp.write_text("by a library"))
    atomic_write_image(tmp_path / "c.png", Image.new("RGB", (4, 3)))
    with atomic_output(tmp_path / "d.txt") as tmp, open(tmp, "w") as f:
        f.write("streamed")
    assert json.loads((tmp_path / "new/a.json").read_text()) == {"x": 2}
    assert (tmp_path / "b.txt").read_text() == "by a library" and (tmp_path / "d.txt").read_text() == "streamed"
    with Image.open(tmp_path / "c.png") as im:
        assert im.format == "PNG" and im.size == (4, 3)
    assert oct((tmp_path / "b.txt").stat().st_mode & 0o777) == oct(0o644)
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("code, cause", [
    (errno.ENOSPC, "No space left on device"), (errno.EDQUOT, "Disk quota exceeded"), (errno.EFBIG, "File too large"),
    (errno.EACCES, "Permission denied"), (errno.EROFS, "Read-only file system")])
@pytest.mark.parametrize("where", ["write", "fsync", "rename", "temporary"])
def test_a_refused_write_is_one_error_naming_the_artifact_and_leaves_nothing(tmp_path, monkeypatch, code, cause,
                                                                              where):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    target = {"fsync": "os.fsync", "rename": "os.replace", "temporary": "tempfile.mkstemp"}.get(where)
    if target:
        monkeypatch.setattr(f"posekit.workspace.{target}", refuse)
        write = atomic_write_bytes
    else:
        def write(path, data):  # the library writing the temporary fails, as a full disk makes it
            atomic_write_with(path, lambda tmp: refuse())
    (tmp_path / "model.pt").write_bytes(b"old")
    with pytest.raises(WriteError) as info:
        write(tmp_path / "model.pt", b"new")
    error = info.value
    assert isinstance(error, PosekitError) and isinstance(error, OSError) and error.exit_code == 1
    assert error.message == f"cannot write {tmp_path / 'model.pt'}: {cause}" and error.errno == code
    assert error.hint.endswith("--debug shows the traceback") and ("disk space" in error.hint) == (code == errno.ENOSPC)
    assert (tmp_path / "model.pt").read_bytes() == b"old"  # the old file stays whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_a_folder_that_cannot_be_created_or_a_file_in_the_way_names_the_path(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(WriteError, match=r"cannot write .*/file/sub/a.json: Not a directory"):
        atomic_write_json(tmp_path / "file/sub/a.json", {})
    with pytest.raises(WriteError, match=r"cannot write .*/file/out: "):
        output_folder(tmp_path / "file/out")
    (tmp_path / "taken").mkdir()
    with pytest.raises(WriteError, match=r"cannot write .*/taken: Is a directory") as info:
        atomic_write_bytes(tmp_path / "taken", b"x")
    assert "a folder stands where that file should be written" in info.value.hint
    assert temporaries(tmp_path) == []


def test_an_error_of_the_library_itself_passes_through_and_leaves_nothing(tmp_path):
    from PIL import UnidentifiedImageError

    def broken(tmp: Path) -> None:
        raise UnidentifiedImageError("not a refused write")  # an OSError without errno: not the disk's

    with pytest.raises(UnidentifiedImageError):
        atomic_write_with(tmp_path / "x.png", broken)
    with pytest.raises(KeyboardInterrupt), atomic_output(tmp_path / "y.bin"):
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_write_errors_survive_a_process_pool():
    import pickle

    error = pickle.loads(pickle.dumps(WriteError("/x/a.h5", OSError(errno.EFBIG, "File too large"))))
    assert error.message == "cannot write /x/a.h5: File too large" and error.errno == errno.EFBIG and error.hint


# -- the source scan ----------------------------------------------------------------------------------------------
# (file, what the flagged line holds, why it may write without the writer)
ALLOWED = [
    ("posekit/data/h5guard.py", 'self.f = open(path, "w+b", buffering=0)',
     ("the guarded file under every HDF5 write: h5py writes through it, and a refused write is recorded and raised "
      "as an OSError naming the artifact (posekit.data sits below the writer's layer)")),
    ("posekit/data/h5guard.py", 'self.file = h5py.File(self.io, "w")',
     "the HDF5 file over that guarded file (to <name>.h5.tmp, renamed when complete by its owner)"),
    ("posekit/data/h5format.py", "os.replace(self.tmp, self.path)",
     ("HDF5 dataset splits stream through posekit.data.h5guard (a failed write is an OSError naming the split) into "
      "<split>.h5.tmp, renamed at close; posekit.data sits below the writer's layer")),
    ("posekit/stylize/cache.py", "os.replace(self.tmp, self.path)",
     "the style cache, an HDF5 file streamed through h5guard like a dataset split, renamed when complete"),
    ("posekit/data/video.py", "os.replace(self.partial, self.path)",
     ("VideoWriter: libav streams H.264 into <path>.partial; predict hands it a temporary of atomic_output, which "
      "does the final rename (posekit/stages/predict_video.py)")),
    ("posekit/stages/template.py", "lambda tmp: shutil.copyfile(best, tmp)",
     "final.pt as a copy of best.pt, into the temporary of atomic_write_with, which renames it"),
    ("posekit/engine/logging.py", 'with open(self.path, "a") as f:',
     "metrics.jsonl, the training log, appended to one line at a time (a log, not an artifact replaced whole)"),
    ("posekit/stages/predict_video.py", 'lines = files.enter_context(open(files.enter_context(atomic_output(',
     "the keypoint lines stream into a temporary of atomic_output, which renames it when complete"),
]
OPEN_MODES = ("w", "a", "x")
SAVERS = {"save": 0, "dump": 1, "export": 2}  # method -> index of the destination argument (.save(f), json.dump(o, f),
#                                              torch.save(o, f), torch.jit.save(m, f), torch.onnx.export(m, a, f))


def _name(node: ast.AST) -> str:
    return ast.unparse(node)


def buffers(tree: ast.AST) -> set[str]:
    """Names bound to an in-memory buffer (``io.BytesIO()``/``io.StringIO()``) anywhere in the module."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and \
                _name(node.value.func).split(".")[-1] in ("BytesIO", "StringIO"):
            found |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return found


def file_writes(path: Path) -> list[tuple[int, str]]:
    """``(line, source line)`` of every call in ``path`` that writes a file: ``open(…, "w"|"a"|"x")``,
    ``.write_text``, ``.write_bytes``, ``.save(f)``, ``torch.save``, ``torch.jit.save``, ``torch.onnx.export(…, f)``,
    ``json.dump(o, f)``, ``np.save``, ``h5py.File(…, "w"|"a")``, ``shutil.copy*``/``move``, ``os.replace``/
    ``os.rename``, except into an in-memory buffer."""
    source = path.read_text()
    tree = ast.parse(source)
    memory = buffers(tree)
    lines = source.splitlines()
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = _name(node.func)
        last = func.split(".")[-1]
        mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
        mode = mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else ""
        dest_index = SAVERS.get(last)
        dest = None
        if dest_index is not None:
            if func == "torch.save" or func.endswith("jit.save"):
                dest_index = 1
            dest = node.args[dest_index] if len(node.args) > dest_index else next(
                (k.value for k in node.keywords if k.arg in ("f", "fp", "file", "fout")), None)
        writes = (
            (func in ("open", "io.open", "builtins.open") and any(m in mode for m in OPEN_MODES))
            or last in ("write_text", "write_bytes", "tofile")
            or (func.endswith("h5py.File") and any(m in mode for m in (*OPEN_MODES, "r+")))
            or func in ("np.save", "np.savez", "np.savez_compressed", "numpy.save", "shutil.copy", "shutil.copyfile",
                        "shutil.copy2", "shutil.move", "os.replace", "os.rename")
            or (last == "save" and dest is not None)
            or (func in ("json.dump", "torch.save", "torch.jit.save") and dest is not None)
            or (func == "torch.onnx.export" and dest is not None)
        )
        if dest is not None and isinstance(dest, ast.Name) and dest.id in memory:
            writes = False  # encoded in memory; the bytes go to the writer
        if writes:
            hits.append((node.lineno, lines[node.lineno - 1].strip()))
    return hits


def test_every_output_file_goes_through_the_writer():
    allowed = {(f, text) for f, text, _ in ALLOWED}
    found, offenders = set(), []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel in WRITER:
            continue
        for line, text in file_writes(path):
            match = next(((f, t) for f, t in allowed if f == rel and t in text), None)
            if match:
                found.add(match)
            else:
                offenders.append(f"{rel}:{line}: {text}")
    assert not offenders, ("write these through posekit.workspace's atomic writers (atomic_write_bytes/text/json/"
                           "image, atomic_write_with or atomic_output), or add them to ALLOWED with the reason:\n"
                           + "\n".join(offenders))
    assert found == allowed, f"ALLOWED entries that match no write any more: {sorted(allowed - found)}"


def test_the_scan_finds_each_kind_of_write(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("""import io, json, torch, shutil, os
def f(p, img, obj, m):
    buf = io.BytesIO()
    img.save(buf, format='PNG')  # in memory: fine
    torch.save(obj, buf)  # in memory: fine
    open(p, 'w')
    open(p, mode='ab')
    open(p)  # reading: fine
    p.write_text('x')
    p.write_bytes(b'x')
    img.save(p)
    torch.save(obj, p)
    torch.jit.save(m, p)
    m.save(str(p))
    torch.onnx.export(m, (obj,), p)
    torch.onnx.export(m, (obj,), dynamo=True)  # no file: fine
    json.dump(obj, p)
    json.dumps(obj)  # a string: fine
    shutil.copyfile(p, p)
    os.replace(p, p)
""")
    assert [line for line, _ in file_writes(sample)] == [6, 7, 9, 10, 11, 12, 13, 14, 15, 17, 19, 20]


# -- commands -------------------------------------------------------------------------------------------------------
def without_root_override() -> None:
    """In the child: drop the capabilities that let root write into any folder (CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH) from the bounding set, so a folder without write permission refuses root's writes too."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            os._exit(97)


def posekit_unprivileged(ws: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("POSEKIT_WORKSPACE", None)
    proc = subprocess.run([sys.executable, "-m", "posekit", "-w", str(ws), *args], check=False, capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300, preexec_fn=without_root_override)
    if proc.returncode == 97:
        pytest.skip("cannot drop CAP_DAC_OVERRIDE here (root without CAP_SETPCAP)")
    return proc


@pytest.fixture
def read_only(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def assert_refused(proc: subprocess.CompletedProcess, path: Path, cause: str) -> None:
    out = proc.stdout + proc.stderr
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert proc.returncode == 1, out
    assert errors == [f"error: cannot write {path}: {cause}"], out
    assert "Traceback" not in out and "disk space" not in out and "check the permissions of that path" in out, out


@pytest.mark.slow
def test_show_export_and_predict_into_a_read_only_folder_say_permission_denied(trained, read_only):
    """(The child stays uid 0, the owner of every file here, so it reads them all; only the folder without write
    permission refuses it.)"""
    from PIL import Image

    image = read_only.parent / "person.png"
    Image.new("RGB", (30, 40)).save(image)
    proc = posekit_unprivileged(trained, "show", "synth_src:train", "--num", "2", "--out", str(read_only / "sheet.png"))
    assert_refused(proc, read_only / "sheet.png", "Permission denied")
    proc = posekit_unprivileged(trained, "export", "pretrain/latest", "--format", "torchscript", "-o", str(read_only))
    assert_refused(proc, read_only / "model.pt", "Permission denied")
    proc = posekit_unprivileged(trained, "export", "pretrain/latest", "--format", "torchscript", "-o",
                                str(read_only / "new"))
    assert_refused(proc, read_only / "new", "Permission denied")
    proc = posekit_unprivileged(trained, "predict", str(image), "--checkpoint", "pretrain/latest", "--out",
                                str(read_only))
    assert_refused(proc, read_only, "Permission denied")
    assert list(read_only.iterdir()) == []


def test_an_unreadable_background_image_names_the_file_and_the_cause(tmp_path):
    from typer.testing import CliRunner

    from posekit.cli import app

    backgrounds = tmp_path / "bg"
    backgrounds.mkdir()
    (backgrounds / "a.jpg").write_bytes(b"not a jpeg")
    result = CliRunner().invoke(app, ["-w", str(tmp_path / "ws"), "prepare", "synthetic", "--size", "64",
                                      "--num-train", "8", "--num-val", "0", "--num-test", "8", "--workers", "1",
                                      "--backgrounds", str(backgrounds)])
    lines = [line for line in result.output.splitlines() if line.startswith(("error:", "hint:"))]
    assert result.exit_code == 4, result.output
    assert lines[0].startswith(f"error: --backgrounds {backgrounds / 'a.jpg'}: not a readable image "
                               "(UnidentifiedImageError"), result.output
    assert len(lines) == 2 and "disk space" not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "ws" / "data").exists()


def test_an_unreadable_background_image_while_drawing_is_the_same_error(tmp_path):
    import numpy as np

    from posekit.datasets.synthetic.domains import list_images, photo_background
    from posekit.errors import DataError

    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    list_images.cache_clear()
    with pytest.raises(DataError, match=r"--backgrounds .*/a.png: not a readable image \("):
        photo_background(np.random.default_rng(0), 32, str(tmp_path))

