"""spaCy annotations: fields, whitespace dropping, layer selection, the disk cache, token alignment."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("spacy", reason="spaCy is the optional 'nlp' extra")

from latentatlas import annotate as ann  # noqa: E402
from latentatlas.annotate import ALL_LAYERS, Annotation, align_to_tokens, annotate  # noqa: E402
from latentatlas.errors import BadInputError  # noqa: E402

TEXTS = [
    "Mr. Smith  went to Washington on Monday.",
    "Apple Inc. unveiled a new iPhone in California.",
    "Unbelievably, the Kyrgyz elections used paper ballots.",
]


@pytest.fixture(scope="module")
def full() -> list[Annotation]:
    return annotate(TEXTS)


def test_fields_line_up_and_are_correct(full: list[Annotation]) -> None:
    a = full[0]
    assert a.words == ("Mr.", "Smith", "went", "to", "Washington", "on", "Monday", ".")  # double space dropped
    for name in ("spans", "tag", "pos", "ent_bio", "dep", "head", "lemma", "is_sent_start"):
        assert len(getattr(a, name)) == len(a.words), name
    assert all(TEXTS[0][s:e] == w for w, (s, e) in zip(a.words, a.spans))
    assert a.tag[2] == "VBD" and a.pos[2] == "VERB" and a.lemma[2] == "go"
    assert a.ent_bio[4] == "B-GPE" and a.ent_bio[2] == "O"
    root = a.dep.index("ROOT")
    assert a.head[root] == root and a.words[root] == "went"
    assert all(0 <= h < len(a.words) for h in a.head)
    assert a.is_sent_start[0] is True
    assert a.layers == tuple(sorted(ALL_LAYERS))
    b = full[1]
    assert b.ent_bio[:2] == ("B-ORG", "I-ORG")


def test_layers_select_components(full: list[Annotation], monkeypatch: pytest.MonkeyPatch) -> None:
    assert ann.pipes_for(("tag",)) == ("tagger", "tok2vec")
    assert "parser" not in ann.pipes_for(("pos", "lemma")) and "ner" not in ann.pipes_for(("pos",))
    assert "senter" not in ann.pipes_for(("dep", "sent"))
    tags_only = annotate(TEXTS, layers=["tag"])
    assert [a.tag for a in tags_only] == [a.tag for a in full]  # same tagger, parser off
    assert tags_only[0].dep == () and tags_only[0].ent_bio == () and tags_only[0].layers == ("tag",)
    with pytest.raises(BadInputError, match="unknown annotation layer"):
        annotate(TEXTS, layers=["tags"])
    with pytest.raises(BadInputError, match="not a string"):
        annotate(["ok", 3])  # type: ignore[list-item]


def test_cache_is_used_on_second_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = annotate(TEXTS, cache_dir=tmp_path, layers=["tag", "ner"])
    files = list((tmp_path / "annotations").glob("*.jsonl"))
    assert len(files) == 1

    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("spaCy must not run when the cache holds the sentences")

    monkeypatch.setattr(ann, "_load_pipeline", boom)
    assert annotate(TEXTS, cache_dir=tmp_path, layers=["tag", "ner"]) == first
    with pytest.raises(AssertionError, match="must not run"):  # other sentences: a different key
        annotate(TEXTS[:1], cache_dir=tmp_path, layers=["tag", "ner"])
    monkeypatch.undo()
    # a truncated cache file is rebuilt, not trusted
    files[0].write_text(files[0].read_text().splitlines()[0] + "\n")
    assert annotate(TEXTS, cache_dir=tmp_path, layers=["tag", "ner"]) == first


def test_align_to_tokens_hand_cases() -> None:
    a = Annotation(words=("New", "York", "!"), spans=((0, 3), (4, 8), (8, 9)))
    offsets = [(0, 0), (0, 3), (4, 6), (6, 8), (8, 9), (3, 4), (0, 0)]
    assert align_to_tokens(a, offsets) == [-1, 0, 1, 1, 2, -1, -1]
    # a token spanning two words goes to the first it overlaps; out-of-order offsets work
    assert align_to_tokens(a, [(2, 5), (8, 9), (0, 1)]) == [0, 2, 0]


def test_align_to_tokens_with_minilm(full: list[Annotation], minilm_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_dir)
    for text, a in zip(TEXTS, full):
        enc = tok(text, return_offsets_mapping=True)
        idx = align_to_tokens(a, enc["offset_mapping"])
        tokens = tok.convert_ids_to_tokens(enc["input_ids"])
        assert idx[0] == -1 and idx[-1] == -1  # [CLS], [SEP]
        for t, (s, e), w in zip(tokens[1:-1], enc["offset_mapping"][1:-1], idx[1:-1]):
            assert w >= 0, t
            ws, we = a.spans[w]
            assert ws <= s and e <= we  # every word piece lies inside its word
            assert t.removeprefix("##") in a.words[w].lower()
        # every word gets at least one token, in order
        real = [w for w in idx if w >= 0]
        assert sorted(set(real)) == list(range(len(a.words))) and real == sorted(real)
    a = full[2]
    enc = tok(TEXTS[2], return_offsets_mapping=True)
    idx = align_to_tokens(a, enc["offset_mapping"])
    pieces = [t for t, w in zip(tok.convert_ids_to_tokens(enc["input_ids"]), idx) if w == 0]
    assert "".join(p.removeprefix("##") for p in pieces) == "unbelievably"
