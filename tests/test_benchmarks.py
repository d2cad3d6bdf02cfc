"""The benchmark runner: discovery, the printed table and the JSON file."""

import json
import sys
import types

import pytest

from benchmarks import runner
from benchmarks.common import row


def _fake_module(rows=None, error=None):
    module = types.ModuleType("benchmarks.fake")

    def run(quick):
        assert quick is True
        if error:
            raise error
        return rows

    module.run = run
    return module


def test_every_benchmark_module_is_found():
    names = runner.benchmark_names()
    assert names[:3] == ["attention", "gpt_training", "bfloat16"]
    assert "common" not in names and "runner" not in names


@pytest.mark.parametrize(
    "ours, peer, target, met",
    [
        (8.0, 10.0, ("ratio", "<=", 0.8), True),  # ratio 0.8: on the bound
        (8.5, 10.0, ("ratio", "<=", 0.8), False),
        (0.7, None, ("ours", ">=", 0.8), False),
        (0.8, None, ("ours", ">=", 0.8), True),
        (1.505, 1.5, ("ratio", "within", 0.01), True),  # |1.0033 - 1| <= 0.01
        (1.52, 1.5, ("ratio", "within", 0.01), False),  # |1.0133 - 1| > 0.01
        (1.48, 1.5, ("ratio", "within", 0.01), False),  # below by more than 0.01 too
        (8.0, None, ("ratio", "<=", 0.8), None),  # no peer, no ratio: not decided
        (8.0, 10.0, None, None),  # no target
    ],
)
def test_row_decides_whether_the_target_is_met(ours, peer, target, met):
    result = row("b", "c", "ms/step", ours, peer, target=target)
    assert result["met"] is met
    assert result["ratio"] == (None if peer is None else pytest.approx(ours / peer))
    assert result["target"] == (
        None if target is None else dict(zip(("field", "op", "value"), target))
    )


def test_runner_prints_a_table_and_writes_json(tmp_path, monkeypatch, capsys):
    rows = [
        row("fake", "fast case", "ms/step", 8.0, 10.0, "peer layer", ("ratio", "<=", 0.8), "a note"),
        row("fake", "mfu", "MFU", 0.5, target=("ours", ">=", 0.8)),
    ]
    monkeypatch.setitem(sys.modules, "benchmarks.fake", _fake_module(rows))
    monkeypatch.setattr(runner, "benchmark_names", lambda: ["fake"])
    out = tmp_path / "results" / "quick.json"

    assert runner.main(["--quick", "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    assert "ours/peer" in printed and "fast case" in printed and "50.0%" in printed
    assert "ratio ≤ 0.8" in printed and "fake / fast case: peer: peer layer; a note" in printed
    result = json.loads(out.read_text())
    assert result["mode"] == "quick" and result["failures"] == {}
    assert result["rows"] == json.loads(json.dumps(rows))
    environment = result["environment"]
    assert environment["cpu"]["model"] and environment["tensorflow"] and environment["keras"]
    assert environment["date"]


def test_a_failing_benchmark_is_reported_and_the_others_kept(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "benchmarks.fake", _fake_module(error=RuntimeError("boom")))
    monkeypatch.setitem(
        sys.modules, "benchmarks.fine", _fake_module([row("fine", "c", "x", 1.0)])
    )
    monkeypatch.setattr(runner, "benchmark_names", lambda: ["fake", "fine"])
    out = tmp_path / "r.json"

    assert runner.main(["--quick", "--out", str(out)]) == 1

    result = json.loads(out.read_text())
    assert "RuntimeError: boom" in result["failures"]["fake"]
    assert [r["benchmark"] for r in result["rows"]] == ["fine"]


def test_unknown_benchmark_name_is_an_error(capsys):
    with pytest.raises(SystemExit):
        runner.main(["--only", "nope"])
    assert "unknown benchmarks ['nope']" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_attention_benchmark_runs(tmp_path):
    out = tmp_path / "attention.json"

    assert runner.main(["--quick", "--only", "attention", "--out", str(out)]) == 0

    rows = json.loads(out.read_text())["rows"]
    assert [r["case"] for r in rows] == ["fwd, graph", "fwd, XLA", "fwd+bwd, graph", "fwd+bwd, XLA"]
    for r in rows:
        assert r["ours"] > 0 and r["peer"] > 0
        assert r["ratio"] == pytest.approx(r["ours"] / r["peer"])
        # The forward rows have no target; the training steps aim at ratio <= 0.8.
        if r["case"].startswith("fwd+bwd"):
            assert r["target"] == {"field": "ratio", "op": "<=", "value": 0.8}
            assert r["met"] is (r["ratio"] <= 0.8)
        else:
            assert r["target"] is None and r["met"] is None


def test_profile_summary_splits_forward_backward_and_matmuls(tmp_path):
    import tensorflow as tf

    from benchmarks.profile_gpt import summarize

    w = tf.Variable(tf.ones((64, 64)))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.nn.relu(tf.matmul(x, w)))
        return tape.gradient(loss, w)

    x = tf.ones((32, 64))
    step(x)
    tf.profiler.experimental.start(str(tmp_path))
    for _ in range(2):
        step(x)
    tf.profiler.experimental.stop()
    summary = summarize(tmp_path, steps=2)
    assert summary["by_part"]["forward, matmul"] > 0
    assert summary["by_part"]["backward, matmul"] > 0
    assert summary["by_type"]["Relu"] > 0 or summary["by_type"]["_MklRelu"] > 0
    with pytest.raises(FileNotFoundError, match="no \\*.xplane.pb"):
        summarize(tmp_path / "empty", steps=1)


def test_profile_summary_counts_xla_ops_by_kind_without_their_loop(tmp_path):
    import tensorflow as tf

    from benchmarks.profile_gpt import summarize

    w = tf.Variable(tf.ones((64, 64)))

    @tf.function(jit_compile=True)
    def loop(x):  # 3 steps of a matrix product, in one XLA while loop
        return tf.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, tf.matmul(x, w) / 64),
                             (0, x))[1]

    x = tf.ones((32, 64))
    loop(x)
    tf.profiler.experimental.start(str(tmp_path))
    loop(x)
    tf.profiler.experimental.stop()
    summary = summarize(tmp_path, steps=3)
    assert summary["xla"] and "while" not in summary["xla"]  # the loop encloses its ops
    # Per step: one product (XLA may fuse the division into it).
    dots = {kind: n for kind, n in summary["xla_count"].items()
            if "dot" in kind.lower() or "matmul" in kind.lower()}
    assert sum(dots.values()) == pytest.approx(1.0), summary["xla_count"]
