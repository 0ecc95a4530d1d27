import pandas as pd

from deeplocalize.neurons import evaluate


def test_reproduce_writes_three_columns_and_the_random_control(tmp_path):
    out, csv = tmp_path / "eval.md", tmp_path / "rows.csv"
    rc = evaluate.main(["--reproduce", "--models", "mlp5x30", "--methods", "deepfault,npsbfl-ga",
                        "--inputs", "600", "--epochs", "2", "--seeds", "20", "--draws", "3",
                        "--out", str(out), "--csv", str(csv)])
    assert rc == 0
    text = out.read_text()
    assert "| published | reference setting here |" in text and "89.9%" in text
    rows = pd.read_csv(csv)
    assert len(rows) == 12 and set(rows.setting) == {"reference", "bounded"}
    assert rows["FDR(i)"].between(0, 1).all() and rows["FDR(i) p"].between(0.25, 1).all()
    ga = rows[rows.method == "npsbfl-ga"]
    assert (ga[ga.setting == "bounded"]["L-inf"] <= 0.1 + 1e-6).all()
    assert (ga[ga.setting == "reference"]["L-inf"] > 0.1 + 1e-3).all()  # three unprojected steps


def test_evaluate_rejects_unknown_model(capsys):
    assert evaluate.main(["--models", "imagenet"]) == 2
    assert "imagenet" in capsys.readouterr().err
