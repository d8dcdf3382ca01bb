"""Sections attached to a study report: splicing, persistence across re-runs, the CLI's --report."""

from __future__ import annotations

from pathlib import Path

import pytest

from latentatlas.cli import main
from latentatlas.errors import BadInputError
from latentatlas.report.sections import SLOT, attach_section, load_sections, splice

from test_run import write_study  # tests/ is on sys.path (rootdir-relative "prepend" import mode)

PAGE = f"<html><body><h2>Models</h2>{SLOT}<h2>Per-layer profiles</h2></body></html>"


def test_splice_places_section_before_slot_and_replaces_earlier_copy() -> None:
    once = splice(PAGE, "anchor", "<section id='anchor'>v1</section>")
    assert once.index("v1") < once.index(SLOT) < once.index("Per-layer")
    twice = splice(splice(once, "concepts", "<section>c</section>"), "anchor", "<section id='anchor'>v2</section>")
    assert "v1" not in twice and twice.count("<section id='anchor'>") == 1
    assert twice.count("<section>c</section>") == 1 and twice.count(SLOT) == 1
    assert twice.index("<section>c</section>") < twice.index("v2")  # the replaced section moves last


def test_splice_without_slot_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="re-run `latentatlas run`"):
        splice("<html><body>not ours</body></html>", "anchor", "x")


def test_attach_writes_fragment_and_page_and_rejects_a_folder_without_report(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text(PAGE)
    files = attach_section(tmp_path, "concepts", "<section>C</section>")
    assert set(files) == {"sections/concepts.html", "report.html"}
    assert load_sections(tmp_path) == [("concepts", "<section>C</section>")]
    assert "<section>C</section>" in (tmp_path / "report.html").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError, match="no report.html there"):
        attach_section(empty, "concepts", "x")
    assert list(empty.iterdir()) == []


def test_anchor_section_joins_the_study_report_and_survives_a_rerun(
    tmp_path: Path, tiny_bert_dir: Path, sentences: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "corpus.txt").write_text("\n".join(sentences * 3) + "\n")
    study = write_study(tmp_path, models=[str(tiny_bert_dir)], measures=["acs", "eee"])
    assert main(["--quiet", "run", str(study)]) == 0
    out = tmp_path / "out"
    # a tiny masked LM: the anchor analysis needs an LM head, which the study's encoder lacks
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    lm_dir = tmp_path / "mlm"
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    BertForMaskedLM(cfg).save_pretrained(lm_dir)
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(lm_dir)
    args = ["-q", "anchor", "-m", str(lm_dir), "--ks", "0,10", "--n-sentences", "30",
            "--output", str(tmp_path / "anchor"), "--report", str(out)]
    assert main(args) == 0
    page = (out / "report.html").read_text()
    assert page.count("<section id='anchor'>") == 1
    assert page.index("Anchor vector") < page.index("Per-layer profiles")
    assert main(args) == 0  # again: replaced, not doubled
    assert (out / "report.html").read_text().count("<section id='anchor'>") == 1
    assert main(["--quiet", "run", str(study)]) == 0  # the study re-rendered keeps the attached section
    assert (out / "report.html").read_text().count("<section id='anchor'>") == 1


def test_cli_report_folder_without_report_fails_before_the_analysis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "anchor"
    # 'minilm' has no LM head, which would also fail: the --report check must come first
    rc = main(["-q", "anchor", "-m", "minilm", "--output", str(out), "--report", str(tmp_path / "nope")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "no report.html there" in err
    assert not out.exists()
