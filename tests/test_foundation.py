"""The package skeleton: lazy imports, no MXNet needed, config and widgets."""
import json
import subprocess
import sys

import numpy as np
import pytest

from notebook_runner import ROOT


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_import_course_lib_without_mxnet_or_torch():
    code = (
        "import sys\n"
        "sys.modules['mxnet'] = None  # any 'import mxnet' now raises ImportError\n"
        "sys.modules['torch'] = None\n"
        "import course_lib\n"
        "from course_lib import rules, surfaces, descent, schedules, config, widgets, data\n"
        "assert 'mxnet' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print('ok')\n")
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_import_course_lib_does_not_load_frameworks():
    result = _run("import sys, course_lib; print(sorted(m for m in ('torch', 'mxnet') if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_mxnet_module_fails_clearly_without_mxnet():
    result = _run("import sys; sys.modules['mxnet'] = None\nimport course_lib.mxnet")
    assert result.returncode != 0
    assert "mxnet" in result.stderr.lower()


def test_device_and_context():
    import torch

    from course_lib.torch import device
    assert device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    mx = pytest.importorskip("mxnet")
    from course_lib.mxnet import context
    assert context().device_type in ("cpu", "gpu")


def test_mode_and_pick(monkeypatch):
    from course_lib import config
    monkeypatch.setenv("COURSE_LIB_MODE", "full")
    assert config.pick(fast=1, full=2) == 2
    monkeypatch.setenv("COURSE_LIB_MODE", "fast")
    assert config.pick(fast=1, full=2) == 1
    monkeypatch.setenv("COURSE_LIB_MODE", "huge")
    with pytest.raises(ValueError, match="COURSE_LIB_MODE"):
        config.mode()


def _draw(a, b="x"):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, a])
    ax.set_title(b)
    return fig


def test_playground_static_frames_differ_and_are_indexed_row_major():
    from course_lib.widgets import Control, Playground
    pg = Playground(_draw, a=Control([1, 2, 3], "slope"), b=["x", "y"])
    keys = pg.frame_keys()
    assert keys == [(1, "x"), (1, "y"), (2, "x"), (2, "y"), (3, "x"), (3, "y")]
    frames = pg.frames()
    assert len(set(frames.values())) == 6           # every combination draws a different figure
    page = pg.to_html()
    assert page.count('type="range"') == 2
    assert page.count("data:image/png;base64,") == 6
    assert "index * sizes[i]" in page               # row-major index matches frame_keys order


def test_playground_live_widget_has_one_control_per_argument():
    pytest.importorskip("ipywidgets")
    from course_lib.widgets import Control, Playground
    box = Playground(_draw, a=Control([1, 2], "slope"), b=["x", "y"]).widget()
    assert [type(c).__name__ for c in box.children] == ["SelectionSlider", "Dropdown", "Output"]
    box.children[0].value = 2                      # moving the slider redraws without error


def test_playground_rejects_bad_input():
    from course_lib.widgets import Control, Playground
    with pytest.raises(ValueError, match="at least one control"):
        Playground(_draw)
    with pytest.raises(ValueError, match="frames"):
        Playground(_draw, a=list(range(10)), b=[str(i) for i in range(10)])
    with pytest.raises(ValueError, match="not among the values"):
        Control([1, 2], value=3)
    with pytest.raises(TypeError, match="control 'a'"):
        Playground(_draw, a=3)


def test_data_sets_are_offline_and_shaped():
    from course_lib import data
    split = data.digits(seed=1)
    assert split.x_train.shape[1] == 64 and split.x_train.dtype == np.float32
    assert len(split.x_train) + len(split.x_test) == 1797
    assert abs(split.x_train.mean()) < 1e-3
    x, y = data.synthetic_regression()
    assert x.shape == (1000, 2) and y.shape == (1000,)
    w, *_ = np.linalg.lstsq(np.hstack([x, np.ones((1000, 1))]), y, rcond=None)
    np.testing.assert_allclose(w, [2, -3.4, 4.2], atol=2e-3)
    with pytest.raises(ValueError, match="test_size"):
        data.digits(test_size=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        list(data.batches(10, 0))
    idx = np.concatenate(list(data.batches(10, 3, np.random.default_rng(0))))
    assert sorted(idx) == list(range(10))


def test_models_train_in_both_frameworks():
    import torch

    from course_lib import data, models
    from course_lib.torch import SGD
    split = data.digits(n_train=300)
    x, y, xv, yv = (torch.as_tensor(a) for a in split)
    net = models.torch_mlp([64, 32, 10], seed=0)
    hist = models.train_torch(net, SGD(net.parameters(), lr=0.1), x, y, epochs=3, batch_size=32,
                              x_val=xv, y_val=yv)
    assert hist.train_loss[-1] < hist.train_loss[0] and hist.val_accuracy[-1] > 0.5
    with pytest.raises(ValueError, match="sizes"):
        models.torch_mlp([64])
    mx = pytest.importorskip("mxnet")
    from course_lib.mxnet import SGD as MxSGD
    net = models.mxnet_mlp([64, 32, 10], seed=0)
    trainer = mx.gluon.Trainer(net.collect_params(), MxSGD(learning_rate=0.1))
    xm, ym, xvm, yvm = data.to_mxnet(*split)
    hist = models.train_mxnet(net, trainer, xm, ym, epochs=3, batch_size=32, x_val=xvm, y_val=yvm)
    assert hist.train_loss[-1] < hist.train_loss[0] and hist.val_accuracy[-1] > 0.5


def test_toc_lists_only_existing_files():
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for line in toc.splitlines():
        if "file:" in line:
            stem = line.split("file:")[1].strip()
            assert (ROOT / f"{stem}.md").exists() or (ROOT / f"{stem}.ipynb").exists(), stem


def test_status_page_records_mode_and_a_build_never_mixes_modes(tmp_path, monkeypatch):
    """The book's extension tags untagged cache records with this build's mode and device, and
    forgets records executed in the other mode (so that the build executes them again)."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import course_build_info as info

    cache = get_cache(str(tmp_path / "cache"))
    for name, data in (("a", {"execution_seconds": 1.0, "mode": "fast", "device": "CPU"}),
                       ("b", {"execution_seconds": 2.0})):   # b: executed by a build (myst-nb)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"print('{name}')")])
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(tmp_path / f"{name}.md"), data=data),
                                    check_validity=False)

    class App:
        srcdir = str(tmp_path)

        class config:
            nb_execution_cache_path = "cache"

    monkeypatch.setenv("COURSE_LIB_MODE", "full")
    runs = info._cached_runs(App, info._this_run())
    assert {key: runs[str(tmp_path / "a.md")][key] for key in ("device", "mode")} == {
        "device": "CPU", "mode": "fast"}
    assert runs[str(tmp_path / "b.md")]["mode"] == "full"          # tagged with this build's
    info._drop_other_mode(App)
    left = [r.uri for r in get_cache(str(tmp_path / "cache")).list_cache_records()]
    assert left == [str(tmp_path / "b.md")]                          # the fast record is gone


def test_progress_bars_are_silent_in_builds_and_shown_otherwise(monkeypatch):
    from course_lib.config import progress

    items = [1, 2, 3]
    monkeypatch.setenv("COURSE_LIB_PROGRESS", "0")
    assert progress(items, desc="x") is items                      # builds and tests: no bar
    monkeypatch.setenv("COURSE_LIB_PROGRESS", "1")
    bar = progress(items, desc="x")
    assert bar is not items and list(bar) == items and bar.desc == "x"
