"""Reports built from saved traces of a really trained buggy and healthy run.

Two tiny Keras models are trained once per module with the callback; their
traces and diagnoses are saved and loaded back, so every report here is made
the way a user makes one after training (offline, from files).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from html import escape
from pathlib import Path

for _k, _v in {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
               "TF_CPP_MIN_LOG_LEVEL": "3"}.items():
    os.environ.setdefault(_k, _v)

import numpy as np
import pytest

from deeplocalize import Diagnosis, Finding, Trace
from deeplocalize.report import console, write

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]


def _train(buggy: bool):
    import keras

    from deeplocalize import DeepLocalizeCallback

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    if buggy:
        # The bug: inputs and targets left in the hundreds/thousands, plain SGD:
        # the updates overflow and the output layer turns Inf within a few steps.
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="hidden"),
             keras.layers.Dense(8, activation="relu", name="hidden2"), keras.layers.Dense(1, name="output")],
            name="buggy_regressor",
        )
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        x, y = x * 100.0, y * 1000.0
    else:
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="hidden"),
             keras.layers.Dense(8, activation="tanh", name="squash"),
             keras.layers.Dense(1, activation="sigmoid", name="output")],
            name="healthy_classifier",
        )
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    cb = DeepLocalizeCallback(verbose=0, verify="never")  # the verified-fix section: tests/test_verify.py
    model.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[cb])
    return cb


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{"buggy"|"healthy": {"npz", "json", "trace", "diagnosis"}} loaded back from disk."""
    out = {}
    root = tmp_path_factory.mktemp("runs")
    for name in ("buggy", "healthy"):
        cb = _train(name == "buggy")
        npz, js = root / f"{name}.npz", root / f"{name}.json"
        cb.trace.save(npz)
        d = cb.diagnosis
        d.trace_path = npz.name  # relative to the JSON file
        d.save(js)
        out[name] = {"npz": npz, "json": js, "trace": Trace.load(npz), "diagnosis": Diagnosis.load(js)}
    buggy = out["buggy"]["diagnosis"]
    assert buggy.status == "buggy" and buggy.faulty_layer in out["buggy"]["trace"].layer_names, buggy.to_dict()
    assert out["healthy"]["diagnosis"].status == "healthy", [
        f.message for f in out["healthy"]["diagnosis"].findings]
    return out


@pytest.fixture(scope="module")
def buggy_html(runs, tmp_path_factory):
    r = runs["buggy"]
    path = write(r["diagnosis"], tmp_path_factory.mktemp("html") / "buggy.html", trace=r["trace"])
    return path.read_text(encoding="utf-8")


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def _assert_png(data: bytes) -> None:
    import matplotlib.image as mpimg

    assert data[:8] == PNG_SIGNATURE
    pixels = mpimg.imread(io.BytesIO(data), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 300
    assert float(pixels[..., :3].std()) > 0.01  # not a blank canvas


def _assert_self_contained(html: str) -> None:
    lowered = html.lower()
    for bad in ("http://", "https://", "//cdn", "<link", "@import", "url(", "<script"):
        assert bad not in lowered, f"external reference {bad!r} in the HTML"
    for src in re.findall(r'\bsrc\s*=\s*"([^"]*)"', html):
        assert src.startswith("data:image/png;base64,"), src[:60]


def _verdict_section(html: str) -> str:
    m = re.search(r'<section[^>]*id="verdict".*?</section>', html, flags=re.S)
    assert m, "no verdict section"
    return m.group(0)


# ---- HTML -------------------------------------------------------------------------


def test_html_verdict_comes_first_and_names_layer_cause_fix(runs, buggy_html):
    d = runs["buggy"]["diagnosis"]
    verdict = _verdict_section(buggy_html)
    assert buggy_html.index('id="verdict"') < buggy_html.index('id="findings"') < buggy_html.index('id="plots"')
    assert 'data-status="buggy"' in verdict and "BUGGY" in verdict
    assert d.faulty_layer and f"<code>{escape(d.faulty_layer)}</code>" in verdict
    assert d.root_cause and escape(d.root_cause.replace("_", " ")) in verdict
    assert d.suggestion and escape(d.suggestion) in verdict
    assert "Suggested fix" in verdict


def test_html_shows_every_finding_with_its_evidence(runs, buggy_html):
    d = runs["buggy"]["diagnosis"]
    cards = re.findall(r'<article class="card finding"[^>]*data-kind="([^"]+)"', buggy_html)
    assert cards == [f.kind for f in d.findings]
    for f in d.findings:
        assert escape(f.message) in buggy_html
        for key in f.evidence:
            assert f"<th>{escape(str(key))}</th>" in buggy_html


def test_html_plots_are_embedded_decodable_pngs(buggy_html):
    images = _images(buggy_html)
    for plot in ("loss_accuracy", "gradient_heatmap", "activation_health"):
        assert f'id="plot-{plot}"' in buggy_html
    assert len(images) == 3
    for data in images:
        _assert_png(data)


def test_html_has_no_external_urls(runs, buggy_html, tmp_path):
    _assert_self_contained(buggy_html)
    r = runs["healthy"]
    _assert_self_contained(write(r["diagnosis"], tmp_path / "h.html", trace=r["trace"]).read_text())


def test_html_lists_layers_with_the_faulty_one_highlighted(runs, buggy_html):
    d = runs["buggy"]["diagnosis"]
    rows = re.findall(r'<tr class="([^"]*)" data-layer="([^"]+)"', buggy_html)
    assert [name for _, name in rows] == runs["buggy"]["trace"].layer_names
    assert [name for cls, name in rows if cls == "faulty"] == [d.faulty_layer]


def test_fault_outside_the_layers_is_said_so(runs, tmp_path):
    r = runs["buggy"]
    d = Diagnosis.from_dict(r["diagnosis"].to_dict())
    d.faulty_layer = "optimizer"
    html = write(d, tmp_path / "opt.html", trace=r["trace"]).read_text()
    assert 'class="faulty"' not in html
    assert "The fault lies outside the layers: in the optimizer." in html
    assert "outside the layers: in the optimizer" in write(d, tmp_path / "opt.md", trace=r["trace"]).read_text()
    assert "outside the layers" not in write(r["diagnosis"], tmp_path / "ok.html", trace=r["trace"]).read_text()


def test_html_healthy_run(runs, tmp_path):
    r = runs["healthy"]
    html = write(r["diagnosis"], tmp_path / "healthy.html", trace=r["trace"]).read_text()
    verdict = _verdict_section(html)
    assert 'data-status="healthy"' in verdict and "HEALTHY" in verdict and "BUGGY" not in verdict
    assert "Training looks healthy" in verdict
    assert 'class="faulty"' not in html
    assert len(_images(html)) == 3


def test_html_without_trace_says_plots_need_it(runs, tmp_path):
    d = runs["buggy"]["diagnosis"]
    html = write(d, tmp_path / "notrace.html").read_text()
    assert 'id="no-trace"' in html and "need the training trace" in html
    assert "<img" not in html
    assert f"<code>{escape(d.faulty_layer)}</code>" in _verdict_section(html)
    _assert_self_contained(html)


def test_every_severity_and_nonfinite_evidence_render(runs, tmp_path):
    r = runs["buggy"]
    d = Diagnosis.from_dict(r["diagnosis"].to_dict())
    d.findings += [
        Finding(kind="dying_relu", layer="hidden", severity="warning", step=2, message="Half of <hidden> died.",
                suggestion="Use LeakyReLU.", evidence={"dead_frac": 0.5, "per_step": [0.1, float("nan")]}),
        Finding(kind="overfitting", severity="info", message="Validation loss rises.", evidence={"gap": "inf"}),
    ]
    html = write(d, tmp_path / "more.html", trace=r["trace"]).read_text()
    assert "Half of &lt;hidden&gt; died." in html and "<hidden>" not in html
    assert re.search(r'data-kind="overfitting" data-severity="info"', html)
    assert "<td>[0.1, NaN]</td>" in html and "<td>Inf</td>" in html


def test_diagnosis_save_dispatches_to_the_report(runs, tmp_path):
    r = runs["buggy"]
    path = r["diagnosis"].save(tmp_path / "via_save.html", trace=r["trace"])
    assert len(_images(path.read_text())) == 3
    with pytest.raises(ValueError, match=".html or .md"):
        write(r["diagnosis"], tmp_path / "report.pdf")


def test_callback_diagnosis_carries_its_trace(tmp_path):
    cb = _train(True)
    d = cb.diagnosis
    assert d.trace is not None and d.trace.n_steps == cb.trace.n_steps
    assert len(_images(d.save(tmp_path / "no_trace_arg.html").read_text())) == 3
    assert "trace" not in d.to_dict()  # not serialised: a loaded diagnosis has none
    loaded = Diagnosis.from_dict(d.to_dict())
    assert loaded.trace is None and _images(loaded.save(tmp_path / "loaded.html").read_text()) == []


# ---- Markdown ---------------------------------------------------------------------


def test_markdown_has_the_same_content_and_pngs_beside_it(runs, tmp_path):
    r = runs["buggy"]
    d = r["diagnosis"]
    md_path = write(d, tmp_path / "out" / "run.md", trace=r["trace"])
    text = md_path.read_text()
    assert "BUGGY" in text and f"`{d.faulty_layer}`" in text and d.root_cause.replace("_", " ") in text
    assert d.suggestion in text
    for f in d.findings:
        assert f.message in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == [f"run_files/{p}.png" for p in ("activation_health", "gradient_heatmap",
                                                          "loss_accuracy")]
    for link in links:
        png = md_path.parent / link
        assert png.is_file()
        _assert_png(png.read_bytes())
    assert re.search(rf"\*\*`{re.escape(d.faulty_layer)}`\*\* ◀ \*\*FAULTY\*\*", text)


def test_markdown_without_trace(runs, tmp_path):
    text = write(runs["healthy"]["diagnosis"], tmp_path / "h.md").read_text()
    assert "HEALTHY" in text and "need the training trace" in text and "![" not in text
    assert not (tmp_path / "h_files").exists()


# ---- CLI --------------------------------------------------------------------------


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "deeplocalize", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_cli_round_trip_from_npz(runs, tmp_path):
    from deeplocalize.__main__ import main

    out = tmp_path / "from_npz.html"
    assert main(["report", str(runs["buggy"]["npz"]), "-o", str(out), "-q"]) == 0
    html = out.read_text()
    assert "BUGGY" in _verdict_section(html)
    assert f"<code>{escape(runs['buggy']['diagnosis'].faulty_layer)}</code>" in _verdict_section(html)
    assert len(_images(html)) == 3
    md = tmp_path / "from_npz.md"
    assert main(["report", str(runs["healthy"]["npz"]), "-o", str(md), "-q"]) == 0
    assert "HEALTHY" in md.read_text() and (tmp_path / "from_npz_files" / "loss_accuracy.png").is_file()


def test_cli_round_trip_from_json_finds_its_trace(runs, tmp_path):
    out = tmp_path / "from_json.html"
    proc = _cli("report", runs["buggy"]["json"], "-o", out, cwd=tmp_path)  # trace_path is relative
    assert proc.returncode == 0, proc.stderr
    assert "BUGGY" in proc.stdout and "\x1b[" not in proc.stdout  # plain summary: not a terminal
    html = out.read_text()
    assert len(_images(html)) == 3
    d = runs["buggy"]["diagnosis"]
    assert [k for k in re.findall(r'data-kind="([^"]+)"', html)] == [f.kind for f in d.findings]


def test_cli_json_without_its_trace_still_reports(runs, tmp_path):
    data = json.loads(runs["buggy"]["json"].read_text())
    data["trace_path"] = str(tmp_path / "gone.npz")
    js = tmp_path / "lonely.json"
    js.write_text(json.dumps(data))
    from deeplocalize.__main__ import main

    assert main(["report", str(js), "-o", str(tmp_path / "lonely.html"), "-q"]) == 0
    html = (tmp_path / "lonely.html").read_text()
    assert "BUGGY" in html and "<img" not in html and "need the training trace" in html


def test_cli_clear_errors(tmp_path, capsys):
    from deeplocalize.__main__ import main

    assert main(["report", str(tmp_path / "missing.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert main(["report", str(other)]) == 2
    assert "suffix '.txt'" in capsys.readouterr().err
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not a zip")
    assert main(["report", str(bogus)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_rejects_unknown_output_suffix(runs, tmp_path, capsys):
    from deeplocalize.__main__ import main

    assert main(["report", str(runs["buggy"]["json"]), "-o", str(tmp_path / "r.pdf")]) == 2
    assert "report format" in capsys.readouterr().err


def test_cli_json_path_needs_no_tensorflow(runs, tmp_path):
    code = ("import sys; from deeplocalize.__main__ import main; "
            f"rc = main(['report', {str(runs['buggy']['json'])!r}, '-o', {str(tmp_path / 'x.html')!r}, '-q']); "
            "assert rc == 0; bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


# ---- console ----------------------------------------------------------------------


class _FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_console_plain_when_not_a_tty(runs, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    d = runs["buggy"]["diagnosis"]
    buf = io.StringIO()
    console.print_summary(d, file=buf)
    text = buf.getvalue()
    assert "\x1b[" not in text
    assert text.startswith("deeplocalize: BUGGY")
    assert f"layer: {d.faulty_layer}" in text and d.root_cause.replace("_", " ") in text and d.suggestion in text
    others = len(d.findings) - 1
    assert (f"+ {others} other finding" in text) == (others > 0)
    assert len(text.splitlines()) <= 6


def test_console_colour_only_on_a_terminal_without_no_color(runs, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    d = runs["buggy"]["diagnosis"]
    tty = _FakeTTY()
    console.print_summary(d, file=tty)
    assert "\x1b[" in tty.getvalue() and "BUGGY" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    tty = _FakeTTY()
    console.print_summary(d, file=tty)
    assert "\x1b[" not in tty.getvalue() and "BUGGY" in tty.getvalue()


def test_console_healthy(runs):
    buf = io.StringIO()
    console.print_summary(runs["healthy"]["diagnosis"], file=buf)
    assert buf.getvalue().startswith("deeplocalize: HEALTHY") and "\x1b[" not in buf.getvalue()
