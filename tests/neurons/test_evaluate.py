import pandas as pd

from deeplocalize.neurons import evaluate


def test_evaluate_writes_table(tmp_path, capsys):
    out, csv = tmp_path / "eval.md", tmp_path / "rows.csv"
    rc = evaluate.main(["--models", "digits-mlp", "--methods", "deepfault,npsbfl-ga", "--seeds", "8",
                        "--epochs", "3", "--distance", "0.05", "--out", str(out), "--csv", str(csv)])
    assert rc == 0
    text = out.read_text()
    assert "| digits-mlp | deepfault | ochiai |" in text and "npsbfl-ga" in text
    rows = pd.read_csv(csv)
    assert len(rows) == 6 and rows["FDR"].between(0, 1).all() and (rows["L-inf"] <= 0.05 + 1e-6).all()


def test_evaluate_rejects_unknown_model(capsys):
    assert evaluate.main(["--models", "imagenet"]) == 2
    assert "imagenet" in capsys.readouterr().err
