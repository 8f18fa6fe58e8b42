"""bench/compile_cost.py end to end on one activation (three short-lived processes)."""
from . import compile_cost


def test_compile_cost_one_activation():
    res = compile_cost.measure(["relu"], import_repeat=1)
    first = res["functions"]["relu"]
    for key in ("forward_small", "forward_large", "backward_small", "backward_large"):
        assert first["cold"][key] > 0 and first["warm"][key] > 0
    assert res["import"]["fastact"] > 0
    text = compile_cost.format_text(res)
    assert "relu" in text and "cold cache" in text
