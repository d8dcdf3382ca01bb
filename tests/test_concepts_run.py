"""`latentatlas concepts` end to end on tiny BERTs: tables, page, bad input through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentatlas.cli import main
from latentatlas.settings import ConceptSettings
from latentatlas.analyses.concepts.run import (
    analysis_sentences,
    read_label_file,
    render_section,
    resolve_k,
    run_concepts,
    write_concepts,
)
from latentatlas.errors import BadInputError

SMALL = ["--task", "bbc_topic", "--max-train", "48", "--max-eval", "40", "--n-sentences", "48", "--layers", "1,2"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("concepts_cache")


@pytest.fixture(scope="module")
def result(tiny_bert_dir: Path, cache: Path):  # type: ignore[no-untyped-def]
    """Fine-tunes the tiny BERT (1 epoch, 48 sentences) and runs the whole analysis with K = 6."""
    settings = ConceptSettings(model=str(tiny_bert_dir), task="bbc_topic", max_train=48, max_eval=40,
                               n_sentences=48, layers="1,2", k=6, min_per_type=3, n_trigger_inputs=40, n_perm=2)
    return run_concepts(settings, cache_dir=cache, progress=False)


def test_tables_are_consistent(result) -> None:  # type: ignore[no-untyped-def]
    info = result.info
    assert info["layers"] == [1, 2] and info["trigger_layer"] == 2 and info["n_occurrences"] >= 6
    a = result.alignment
    assert set(a["layer"]) == {1, 2}
    assert {"occ_a_to_b", "type_b_to_a", "ari", "ami", "jaccard"} <= set(a["measure"]) and "nmi" not in set(a["measure"])
    assert a["value"].between(-1 - 1e-9, 1 + 1e-9).all() and a["chance"].notna().all()
    lab = result.labels
    assert set(lab["model"]) == {"pretrained", "finetuned"} and set(lab["layer"]) == {1, 2}
    assert {"pos", "tag", "ner", "dep", "casing", "suffix"} <= set(lab["label_set"])
    assert (lab["n_aligned"] <= lab["n_concepts"]).all() and (lab["n_concepts"] == 6).all()
    pol = result.polarity
    # every tested concept appears once per class, for each (model, layer, source)
    n_classes = len(info["classes"])
    per = pol.groupby(["model", "layer", "source", "concept"]).size()
    assert (per == n_classes).all()
    # gold counts of one concept add up to its size and the priors sum to one
    one = pol.loc[(pol["model"] == "finetuned") & (pol["layer"] == 2) & (pol["source"] == "gold")]
    assert (one.groupby("concept")["count"].sum() == one.groupby("concept")["size"].first()).all()
    assert one.drop_duplicates("class")["prior"].sum() == pytest.approx(1.0)
    assert set(result.polarity_summary["source"]) == {"gold", "predicted"}
    # significance is tested over sentences (a sentence counts once per concept), purity over occurrences
    assert info["polarity_unit"] == "sentence"
    assert (pol["n_units"] <= pol["size"]).all() and (pol["unit_count"] <= pol["count"]).all()
    assert (pol.loc[pol["polar"], "purity"] > 0.9).all()
    # the analysed sentences are the validation split's, none of them fine-tuned on; B predicts them
    assert info["analysis_split"] == "validation" and "validation split" in info["analysis_sentences"]
    assert info["analysed_sentences_in_finetuning"] == 0
    assert 0.0 <= info["predicted_agrees_with_gold"] <= 1.0
    t = result.triggers
    if len(t):
        assert set(t["word_set"]) <= {"polar", "random", "frequency"}
        assert t["flip_rate"].dropna().between(0, 1).all()
        ok = t.dropna(subset=["flip_rate"])
        assert ((ok["flip_rate_lo"] <= ok["flip_rate"]) & (ok["flip_rate"] <= ok["flip_rate_hi"])).all()
    assert len(result.words_text.splitlines()) == 48
    # B is attacked through the head it was fine-tuned with, not a probe refitted on its encoder
    assert set(info["classifier_accuracy"]) == {"pretrained+probe", "finetuned"}


def test_k_sweep_from_the_same_trees(result) -> None:  # type: ignore[no-untyped-def]
    info, sweep = result.info, result.k_sweep
    n = info["n_occurrences"]
    assert info["k"] == 6 and info["k_rule"].startswith("given")
    assert 6 in info["k_values"] and info["k_values"] == sorted(set(sweep["k"]))
    assert set(sweep["layer"]) == {1, 2} and len(sweep) == 2 * len(info["k_values"])
    assert np.allclose(sweep["occurrences_per_concept"], n / sweep["k"])
    # the row at the analysis K repeats the main tables (same cut of the same tree)
    a = result.alignment
    for layer in (1, 2):
        row = sweep.loc[(sweep["k"] == 6) & (sweep["layer"] == layer)].iloc[0]
        at = a.loc[(a["layer"] == layer) & (a["measure"] == "type_a_to_b") & np.isclose(a["theta"].fillna(-1), 0.9)]
        assert row["type_a_to_b_excess"] == pytest.approx(float(at["excess"].iloc[0]))
        ari = a.loc[(a["layer"] == layer) & (a["measure"] == "ari")].iloc[0]
        assert row["ari"] == pytest.approx(ari["value"])
        ami = a.loc[(a["layer"] == layer) & (a["measure"] == "ami")].iloc[0]
        assert row["ami"] == pytest.approx(ami["value"]) and row["ami_chance"] == pytest.approx(ami["chance"])
        s = result.polarity_summary
        pol = s.loc[(s["model"] == "finetuned") & (s["layer"] == layer) & (s["source"] == "gold"), "n_polar_concepts"]
        assert row["polar_finetuned_gold"] == int(pol.sum())


@pytest.mark.parametrize("split", ["validation", "heldout"])
def test_analysis_sentences_are_disjoint_from_finetuning(split: str) -> None:
    from latentatlas.downstream.tasks import load_task

    task = load_task("bbc_topic", seed=0, max_train=200, max_eval=50)
    texts, gold = analysis_sentences(task, split, 120, seed=0)
    assert len(texts) == len(set(texts)) == 120 and gold.shape == (120,)
    assert not set(texts) & (set(task.train.text_a) | set(task.validation.text_a))
    # drawn from the named split, with that split's gold labels
    wide = load_task("bbc_topic", seed=0, max_train=100_000, max_eval=100_000)
    pool = wide.validation if split == "validation" else wide.train
    label_of = dict(zip(pool.text_a, np.asarray(pool.labels)))
    assert all(label_of[t] == g for t, g in zip(texts, gold))
    assert analysis_sentences(task, split, 120, seed=0)[0] == texts  # seeded
    with pytest.raises(BadInputError, match="lower --n-sentences"):
        analysis_sentences(task, split, 10**6, seed=0)
    with pytest.raises(BadInputError, match="analysis split"):
        analysis_sentences(task, "train", 10, seed=0)


def test_resolve_k() -> None:
    assert resolve_k(None, 10_000) == 24 and resolve_k(None, 250_000) == 600  # the papers' ratio
    assert resolve_k(7, 10_000) == 7
    with pytest.raises(BadInputError, match="lower --k"):
        resolve_k(20_000, 10_000)


def test_write_and_section(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = write_concepts(result, tmp_path / "out")
    assert {"alignment.csv", "labels.csv", "polarity.csv", "triggers.csv", "concepts.json", "concepts.html",
            "words.txt", "k_sweep.csv"} <= set(files)
    payload = json.loads(files["concepts.json"].read_text())
    assert payload["n_occurrences"] == result.info["n_occurrences"] and payload["settings"]["k"] == 6
    assert len(payload["k_sweep"]) == len(result.k_sweep) and payload["k"] == 6 and 6 in payload["k_values"]
    back = pd.read_csv(files["alignment.csv"])
    assert np.allclose(back["value"], result.alignment["value"])
    section = render_section(result)
    assert section.startswith("<section id='concepts'>") and section.count("data:image/png;base64,") == 3
    assert "<html" in files["concepts.html"].read_text()
    # attached to a study report: the same section goes before the per-layer profiles
    from latentatlas.report.sections import SLOT

    study = tmp_path / "study"
    study.mkdir()
    (study / "report.html").write_text(f"<html><body>{SLOT}<h2>Per-layer profiles</h2></body></html>")
    files = write_concepts(result, tmp_path / "out2", report_dir=study)
    page = files["report.html"].read_text()
    assert page.count("<section id='concepts'>") == 1 and page.index("<section id='concepts'>") < page.index("Per-layer")
    assert files["sections/concepts.html"].read_text().startswith("<section id='concepts'>")


def test_label_file_and_alignment(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    words = pd.DataFrame([(s, w, word) for s, line in enumerate(result.words_text.splitlines())
                          for w, word in enumerate(line.split())], columns=["sentence_id", "word_id", "word"])
    good = tmp_path / "good.txt"
    good.write_text("\n".join(" ".join("X" for _ in line.split()) for line in result.words_text.splitlines()))
    labels = read_label_file(good, words, 48)
    assert len(labels) == len(words) and set(labels) == {"X"}
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(["X X"] * 48))
    with pytest.raises(BadInputError, match="line 1 has 2 labels"):
        read_label_file(bad, words, 48)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["-q", "concepts", *argv])
    return code, capsys.readouterr().err


def test_cli_end_to_end_with_user_labels(tiny_bert_dir: Path, cache: Path, result, tmp_path: Path,  # type: ignore[no-untyped-def]
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # a user label set: the word's length parity, aligned with words.txt
    labels = tmp_path / "parity.txt"
    labels.write_text("\n".join(" ".join("even" if len(w) % 2 == 0 else "odd" for w in line.split())
                                for line in result.words_text.splitlines()) + "\n")
    out = tmp_path / "out"
    code = main(["-q", "concepts", "--model", str(tiny_bert_dir), *SMALL, "--k", "4", "--k-sweep", "2,3",
                 "--labels", str(labels), "--cache", str(cache), "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    lab = pd.read_csv(out / "labels.csv")
    assert "parity" in set(lab["label_set"])
    assert sorted(set(pd.read_csv(out / "k_sweep.csv")["k"])) == [2, 3, 4]  # the analysis K is always swept
    assert "layer  1: AMI" in capsys.readouterr().out


def test_cli_k_larger_than_points(tiny_bert_dir: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, err = _run(["--model", str(tiny_bert_dir), *SMALL, "--k", "100000", "--cache", str(cache),
                      "--output", str(out)], capsys)
    assert code == 2 and "larger than the" in err and "lower --k" in err
    assert err.startswith("latentatlas: error:") and err.count("\n") == 1 and not out.exists()


def test_cli_label_file_that_does_not_line_up(tiny_bert_dir: Path, cache: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    labels = tmp_path / "short.txt"
    labels.write_text("NN VB\n" * 3)
    out = tmp_path / "out"
    code, err = _run(["--model", str(tiny_bert_dir), *SMALL, "--k", "4", "--labels", str(labels), "--cache",
                      str(cache), "--output", str(out)], capsys)
    assert code == 2 and "does not line up with the tokens" in err and "3 lines for 48" in err
    assert err.count("\n") == 1 and not out.exists()


def test_cli_models_that_tokenise_differently(tiny_bert_dir: Path, char_bert_dir: Path, cache: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, err = _run(["--model", str(tiny_bert_dir), "--tuned", str(char_bert_dir), *SMALL, "--k", "4",
                      "--cache", str(cache), "--output", str(out)], capsys)
    assert code == 2 and "tokenise the words differently" in err and "share a tokenizer" in err
    assert err.count("\n") == 1 and not out.exists()


def test_cli_corpus_sentences_are_analysed_with_predicted_classes(tiny_bert_dir: Path, cache: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from latentatlas.corpus import bbc_articles

    articles, _ = bbc_articles()
    corpus = tmp_path / "articles.txt"  # one article per line: split into sentences on request
    corpus.write_text("\n".join(" ".join(body.split()) for _, _, body in articles[5::300]) + "\n")
    out = tmp_path / "out"
    code = main(["-q", "concepts", "--model", str(tiny_bert_dir), *SMALL, "--k", "4", "--corpus", str(corpus),
                 "--split-sentences", "--cache", str(cache), "--output", str(out), "--json"])
    assert code == 0, capsys.readouterr().err
    res = json.loads(capsys.readouterr().out)
    assert res["analysis_split"] == "corpus" and str(corpus) in res["analysis_sentences"]
    assert res["n_sentences"] == 48 and res["analysed_sentences_in_finetuning"] == 0
    assert res["predicted_agrees_with_gold"] is None
    assert set(pd.read_csv(out / "polarity_summary.csv")["source"]) == {"predicted"}
    words = (out / "words.txt").read_text().splitlines()
    assert len(words) == 48
    assert res["settings"]["corpus"]["source"] == str(corpus) and res["settings"]["corpus"]["split_sentences"]


def test_concept_settings_refuse_gold_triggers_on_a_corpus() -> None:
    from latentatlas.settings import CorpusSpec

    with pytest.raises(ValueError, match="corpus sentences have no gold class"):
        ConceptSettings(corpus=CorpusSpec(source="x.txt"), trigger_source="gold")
    with pytest.raises(ValueError, match="with a corpus they come from the corpus"):
        ConceptSettings(corpus=CorpusSpec(source="x.txt"), analysis_split="heldout")
