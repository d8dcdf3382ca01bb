"""Task registry, GLUE loaders (real file formats, saved datasets, failures) and the offline BBC suite."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from latentatlas.downstream import glue, offline
from latentatlas.downstream.base import TaskData
from latentatlas.downstream.metrics import majority_baseline, per_word_baseline
from latentatlas.downstream.tasks import (
    TASKS,
    get_task,
    load_task,
    subsample,
    task_names,
)
from latentatlas.errors import BadInputError, MissingAssetError, UnknownNameError

# ---------------------------------------------------------------- GLUE fixtures in the real formats

STRAY = 'They drank the pub "dry.'  # an unmatched quote: must survive QUOTE_NONE reading

MNLI_TRAIN_HEAD = (
    "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
    "sentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label"
)
MNLI_DEV_HEAD = MNLI_TRAIN_HEAD.replace("label1\t", "label1\tlabel2\tlabel3\tlabel4\tlabel5\t")
STSB_HEAD = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"


def _mnli(i: int, a: str, b: str, lab: str, dev: bool) -> str:
    extra = f"{lab}\t{lab}\t{lab}\t{lab}\t" if dev else ""
    return f"{i}\t3{i}\t3{i}e\tfiction\t( x )\t( y )\t(ROOT x)\t(ROOT y)\t{a}\t{b}\t{lab}\t{extra}{lab}"


def _files(dev: bool) -> dict[str, tuple[str, list[str]]]:
    """folder -> (header line or '' for none, rows) for train (dev=False) or dev files."""
    k = "d" if dev else "t"
    return {
        "CoLA": ("", [f"gj04\t1\t\tThe sailors rode the breeze clear of the rocks {k}.", f"gj04\t0\t*\t{STRAY}"]),
        "SST-2": ("sentence\tlabel", [f"it 's a charming journey {k} . \t1", f"{STRAY} \t0", "bad film\t0"]),
        "MRPC": (
            "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String",
            [f"1\t702876\t702977\tAmrozi accused his brother {k} .\tReferring to him , Amrozi accused his brother .",
             f"0\t2108705\t2108831\t{STRAY}\tYucaipa bought Dominick 's ."],
        ),
        "STS-B": (STSB_HEAD, [f"0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane is taking off {k}.\t"
                              "An air plane is taking off.\t5.000", f"1\tmain-captions\tMSRvid\t2012test\t0004\tnone\t"
                              f"none\t{STRAY}\tA man is playing a flute.\t3.800"]),
        "QQP": ("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
                [f"133273\t213221\t213222\tHow is the life of a math student {k}?\tWhich is the best?\t0",
                 f"402555\t536040\t536041\t{STRAY}\tHow do I control my anger?\t1"]),
        "MNLI": (MNLI_DEV_HEAD if dev else MNLI_TRAIN_HEAD,
                 [_mnli(0, f"Conceptually cream skimming has two dimensions {k}.", "Product and geography.", "neutral", dev),
                  _mnli(1, STRAY, "You lose the things.", "entailment", dev),
                  _mnli(2, "One of our number will carry out your instructions.", "A member will.", "contradiction", dev)]),
        "QNLI": ("index\tquestion\tsentence\tlabel",
                 [f"0\tWhen did the third Digimon series begin {k}?\tUnlike the two seasons.\tnot_entailment",
                  f"1\tWhat is a stray?\t{STRAY}\tentailment"]),
        "RTE": ("index\tsentence1\tsentence2\tlabel",
                [f"0\tNo Weapons of Mass Destruction Found in Iraq Yet {k}.\tWeapons Found.\tnot_entailment",
                 f"1\t{STRAY}\tPope dies.\tentailment"]),
        "WNLI": ("index\tsentence1\tsentence2\tlabel",
                 [f"0\tI stuck a pin through a carrot {k}.\tThe carrot had a hole.\t1", f"1\t{STRAY}\tJohn was dry.\t0"]),
    }


EXPECTED = {  # task -> (train label names in file order, validation file)
    "cola": (["acceptable", "unacceptable"], "dev.tsv"),
    "sst2": (["positive", "negative", "negative"], "dev.tsv"),
    "mrpc": (["equivalent", "not_equivalent"], "dev.tsv"),
    "qqp": (["not_duplicate", "duplicate"], "dev.tsv"),
    "mnli": (["neutral", "entailment", "contradiction"], "dev_matched.tsv"),
    "qnli": (["not_entailment", "entailment"], "dev.tsv"),
    "rte": (["not_entailment", "entailment"], "dev.tsv"),
    "wnli": (["entailment", "not_entailment"], "dev.tsv"),
}


def _write(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in ([header] if header else []) + rows), encoding="utf-8")


@pytest.fixture
def glue_root(tmp_path: Path) -> Path:
    root = tmp_path / "glue_data"
    for dev in (False, True):
        for folder, (header, rows) in _files(dev).items():
            name = ("dev_matched.tsv" if folder == "MNLI" else "dev.tsv") if dev else "train.tsv"
            _write(root / folder / name, header, rows)
    return root


def test_every_glue_task_loads_with_official_labels(glue_root: Path) -> None:
    for name, (train_labels, _) in EXPECTED.items():
        task = load_task(name, data_dir=glue_root)
        info = task.info
        assert [info.labels[i] for i in task.train.labels] == train_labels, name
        assert task.train.labels.dtype == np.int64
        assert STRAY in task.train.text_a + (task.train.text_b or ()), name  # quote kept verbatim
        assert task.validation.text_a[0].endswith(("d.", "d?", "d .")), name  # read from the dev file
        assert (task.train.text_b is not None) == info.pair
        _check_contract(task)
    stsb = load_task("stsb", data_dir=glue_root)
    assert stsb.info.kind == "regression" and stsb.info.num_labels == 1
    np.testing.assert_allclose(stsb.train.labels, [5.0, 3.8], rtol=1e-6)
    assert stsb.train.labels.dtype == np.float32
    assert load_task("mnli", data_dir=glue_root).info.labels == ("entailment", "neutral", "contradiction")
    assert load_task("cola", data_dir=glue_root).info.metric == "mcc"
    assert {n: get_task(n).info.metric for n in ("mrpc", "qqp", "stsb", "rte")} == {
        "mrpc": "acc_f1", "qqp": "acc_f1", "stsb": "pearson_spearman", "rte": "accuracy",
    }


def test_glue_task_folder_itself_is_accepted(glue_root: Path) -> None:
    a = load_task("rte", data_dir=glue_root / "RTE")
    b = load_task("rte", data_dir=glue_root)
    assert a.train.text_a == b.train.text_a and a.validation.text_b == b.validation.text_b


def test_glue_subsample_is_seeded_and_ordered(glue_root: Path) -> None:
    full = load_task("mnli", data_dir=glue_root)
    part = load_task("mnli", data_dir=glue_root, max_train=2, seed=3)
    assert len(part.train) == 2 and len(part.validation) == 3
    kept = [full.train.text_a.index(t) for t in part.train.text_a]
    assert kept == sorted(kept)
    assert [full.train.labels[i] for i in kept] == list(part.train.labels)
    assert [full.train.text_b[i] for i in kept] == list(part.train.text_b)  # type: ignore[index]
    again = load_task("mnli", data_dir=glue_root, max_train=2, seed=3).train
    assert again.text_a == part.train.text_a and list(again.labels) == list(part.train.labels)
    others = {load_task("mnli", data_dir=glue_root, max_train=2, seed=s).train.text_a for s in range(10)}
    assert len(others) > 1  # the seed matters
    with pytest.raises(BadInputError, match="at least 1"):
        load_task("mnli", data_dir=glue_root, max_train=0)


def test_glue_bad_files(glue_root: Path) -> None:
    header, rows = _files(False)["SST-2"]
    _write(glue_root / "SST-2" / "train.tsv", "text\tlabel", rows)
    with pytest.raises(BadInputError, match=r"SST-2.*train\.tsv.*no column 'sentence'"):
        load_task("sst2", data_dir=glue_root)
    _write(glue_root / "SST-2" / "train.tsv", header, rows + ["fine\t2"])
    with pytest.raises(BadInputError, match=r"train\.tsv' line 5: unknown label '2'.*\['0', '1'\]"):
        load_task("sst2", data_dir=glue_root)
    _write(glue_root / "RTE" / "dev.tsv", "index\tsentence1\tsentence2\tlabel", ["0\ta\tb\tmaybe"])
    with pytest.raises(BadInputError, match=r"unknown label 'maybe' in column 'label'.*not_entailment"):
        load_task("rte", data_dir=glue_root)
    _write(glue_root / "CoLA" / "train.tsv", "", ["gj04\t1"])
    with pytest.raises(BadInputError, match="line 1 has 2 tab-separated fields"):
        load_task("cola", data_dir=glue_root)
    _write(glue_root / "STS-B" / "train.tsv", STSB_HEAD, ["0\tg\tf\ty\to\ts\ts\ta\tb\tfive"])
    with pytest.raises(BadInputError, match="'five' is not a number"):
        load_task("stsb", data_dir=glue_root)


def test_glue_missing_data_is_a_clear_error(tmp_path: Path, glue_root: Path) -> None:
    for data_dir in (None, tmp_path / "nowhere", tmp_path):
        with pytest.raises(MissingAssetError, match=r"data_dir in the study file \(tasks: \[\{name: rte, data_dir: PATH/TO/glue_data\}\], folders CoLA/, SST-2/"):
            load_task("cola", data_dir=data_dir)
    (glue_root / "QNLI" / "dev.tsv").unlink()
    with pytest.raises(MissingAssetError, match="no dev.tsv"):
        load_task("qnli", data_dir=glue_root)
    # conftest sets HF_HUB_OFFLINE: the hub path fails before any network call
    with pytest.raises(MissingAssetError, match="offline.*save_to_disk"):
        load_task("rte", data_dir="nyu-mll/glue")


def test_glue_saved_dataset_loads(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets", reason="the optional 'glue' extra (datasets) is not installed")
    features = datasets.Features(
        {"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"),
         "label": datasets.ClassLabel(names=["entailment", "not_entailment"]), "idx": datasets.Value("int32")}
    )
    rows = {"sentence1": ["a b", STRAY, "c"], "sentence2": ["x", "y", "z"], "label": [1, 0, 1], "idx": [0, 1, 2]}
    dd = datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(rows, features=features),
         "validation": datasets.Dataset.from_dict({k: v[:2] for k, v in rows.items()}, features=features)}
    )
    dd.save_to_disk(str(tmp_path / "rte"))
    for data_dir in (tmp_path, tmp_path / "rte"):
        task = load_task("rte", data_dir=data_dir)
        assert task.train.text_a == ("a b", STRAY, "c") and task.train.text_b == ("x", "y", "z")
        assert list(task.train.labels) == [1, 0, 1] and len(task.validation) == 2
        _check_contract(task)
    with pytest.raises(BadInputError, match="label names"):  # WNLI's label order is the reverse
        load_task("wnli", data_dir=tmp_path / "rte")
    with pytest.raises(BadInputError, match="no column 'question'"):
        load_task("qnli", data_dir=tmp_path / "rte")
    with pytest.raises(BadInputError, match="no split 'validation_matched'"):
        glue.load_glue("mnli", data_dir=tmp_path / "rte", source="disk")


# ---------------------------------------------------------------- registry


def test_registry_names_and_errors() -> None:
    assert task_names("glue") == ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"]
    assert task_names("offline") == ["bbc_topic", "bbc_pos", "bbc_pair", "bbc_order"]
    assert task_names() == task_names("glue") + task_names("offline")
    assert all(TASKS[n].info.name == n for n in TASKS)
    with pytest.raises(UnknownNameError, match="did you mean 'bbc_topic'"):
        get_task("bbc_topics")
    with pytest.raises(UnknownNameError, match="task suite"):
        task_names("superglue")


def test_subsample_keeps_every_field_aligned() -> None:
    from latentatlas.downstream.base import Split

    s = Split(text_a=("a", "b", "c", "d"), words=(("a",), ("b",), ("c",), ("d",)),
              tags=tuple(np.array([i]) for i in range(4)), groups=np.arange(4) * 10)
    sub = subsample(s, 2, seed=0)
    ids = [ord(t) - ord("a") for t in sub.text_a]
    assert ids == sorted(ids) and [w[0] for w in sub.words] == list(sub.text_a)  # type: ignore[union-attr]
    assert [int(t[0]) for t in sub.tags] == ids and list(sub.groups) == [10 * i for i in ids]  # type: ignore[union-attr, arg-type]
    assert subsample(s, None, 0) is s and subsample(s, 9, 0) is s


# ---------------------------------------------------------------- offline BBC suite


def _check_contract(task: TaskData) -> None:
    info = task.info
    for split in (task.train, task.validation):
        n = len(split.text_a)
        assert n > 0
        if split.text_b is not None:
            assert len(split.text_b) == n
        if split.groups is not None:
            assert len(split.groups) == n
        if info.kind == "tagging":
            assert split.words is not None and split.tags is not None and len(split.labels) == 0
            assert len(split.words) == len(split.tags) == n
            for text, words, tags in zip(split.text_a, split.words, split.tags):
                assert len(words) == len(tags) > 0 and text == " ".join(words)
                assert tags.dtype == np.int64 and 0 <= tags.min() and tags.max() < info.num_labels
        else:
            assert len(split.labels) == n
            if info.kind == "classification":
                assert split.labels.dtype == np.int64
                assert 0 <= split.labels.min() and split.labels.max() < info.num_labels


@pytest.fixture(scope="module")
def bbc() -> offline.BBCSentences:
    return offline.bbc_sentences()


@pytest.fixture(scope="module")
def sentence_tasks() -> dict[str, TaskData]:
    return {n: load_task(n) for n in ("bbc_topic", "bbc_pair", "bbc_order")}


def test_article_split_is_fixed_stratified_and_leak_free(bbc: offline.BBCSentences, sentence_tasks: dict) -> None:
    assert len(bbc.topic) == 2225
    for t in range(5):
        members = bbc.topic == t
        assert bbc.split_of[members].sum() == round(0.2 * members.sum())
    np.testing.assert_array_equal(offline.split_articles(bbc.topic), bbc.split_of)
    for name, task in sentence_tasks.items():
        _check_contract(task)
        assert len(task.train) == 2000 and len(task.validation) == 500, name
        tr, va = set(task.train.groups.tolist()), set(task.validation.groups.tolist())
        assert not tr & va, name
        assert set(bbc.split_of[list(tr)]) == {0} and set(bbc.split_of[list(va)]) == {1}
    # no sentence text occurs twice in the usable pool
    usable = [bbc.text[i] for i in np.flatnonzero(bbc.usable)]
    assert len(usable) == len(set(usable))


def test_offline_determinism(sentence_tasks: dict) -> None:
    for name, task in sentence_tasks.items():
        again = load_task(name)
        assert again.train.text_a == task.train.text_a and again.validation.text_b == task.validation.text_b
        np.testing.assert_array_equal(again.train.labels, task.train.labels)
        other = load_task(name, seed=1)
        assert other.train.text_a != task.train.text_a, name
    a, b = sentence_tasks["bbc_pair"].train.text_a, sentence_tasks["bbc_order"].train.text_a
    assert len(set(a) & set(b)) < 400  # independent streams per task, not the same sample


def test_bbc_topic_labels_and_baseline(bbc: offline.BBCSentences, sentence_tasks: dict) -> None:
    task = sentence_tasks["bbc_topic"]
    for split in (task.train, task.validation):
        np.testing.assert_array_equal(split.labels, bbc.topic[split.groups])
        for text, g in zip(split.text_a[:50], split.groups[:50]):
            i = bbc.text.index(text)
            assert bbc.article[i] == g and 4 <= offline.n_words(text) <= 49
    counts = Counter(task.train.labels.tolist())
    majority = max(sorted(counts), key=lambda c: counts[c])
    expected = float(np.mean(task.validation.labels == majority))
    assert majority_baseline(task)["score"] == pytest.approx(expected)


def test_bbc_pair_partners(bbc: offline.BBCSentences, sentence_tasks: dict) -> None:
    task = sentence_tasks["bbc_pair"]
    where = {bbc.text[i]: i for i in np.flatnonzero(bbc.usable)}
    for split in (task.train, task.validation):
        assert split.labels.sum() == len(split) // 2  # balanced
        for a, b, lab, g in zip(split.text_a, split.text_b, split.labels, split.groups):
            i = where[a]
            assert bbc.article[i] == g
            if lab == 1:
                assert bbc.text[i + 1] == b and bbc.article[i + 1] == g
            else:
                j = where[b]
                assert bbc.article[j] != g and bbc.split_of[bbc.article[j]] == bbc.split_of[g]
    # balanced train -> tie -> the baseline predicts 'random' (id 0): accuracy exactly 0.5
    assert majority_baseline(task) == {"accuracy": 0.5, "score": 0.5}


def test_bbc_order_shuffles(bbc: offline.BBCSentences, sentence_tasks: dict) -> None:
    task = sentence_tasks["bbc_order"]
    usable = np.flatnonzero(bbc.usable)
    originals = {" ".join(bbc.text[i].split()) for i in usable}
    by_words = {(int(bbc.article[i]), tuple(sorted(bbc.text[i].split()))): i for i in usable}
    for split in (task.train, task.validation):
        assert split.labels.sum() == len(split) // 2
        keys = [tuple(sorted(t.split())) for t in split.text_a]
        assert len(set(keys)) == len(keys)  # each source sentence used once
        for text, key, lab, g in zip(split.text_a, keys, split.labels, split.groups):
            assert (text in originals) == (lab == 1)
            source = by_words[(int(g), key)]  # a permutation of the words of a sentence of its article
            assert (" ".join(bbc.text[source].split()) == text) == (lab == 1)
            # the ends stay: a capital first word and the final full stop do not give the class away
            words, original = text.split(), bbc.text[source].split()
            assert (words[0], words[-1]) == (original[0], original[-1])
    assert majority_baseline(task) == {"mcc": 0.0, "score": 0.0}  # constant prediction


def test_shuffle_interior_keeps_the_ends() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        out = offline.shuffle_interior(["The", "cat", "sat", "down."], rng)
        assert out == ["The", "sat", "cat", "down."]
    with pytest.raises(BadInputError, match="two distinct words"):
        offline.shuffle_interior(["A", "b", "b", "c."], rng)


def test_bbc_pair_no_text_crosses_splits(bbc: offline.BBCSentences) -> None:
    """Every candidate pair (all of them, not a sample): no anchor or partner text of validation is in
    training. A positive partner is the next sentence, so it must obey the first-occurrence rule too."""
    task = load_task("bbc_pair", max_train=10**6, max_eval=10**6)
    train = set(task.train.text_a) | set(task.train.text_b)
    val = set(task.validation.text_a) | set(task.validation.text_b)
    assert len(task.train) > 25_000 and len(task.validation) > 6_000
    assert not train & val
    anchors = np.flatnonzero(bbc.usable & bbc.has_next)
    assert bbc.usable[anchors + 1].all()


def test_shuffle_words_never_returns_the_original() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        out = offline.shuffle_words(["a", "b"], rng)
        assert out == ["b", "a"]
    assert sorted(offline.shuffle_words(list("hello"), rng)) == sorted("hello")
    with pytest.raises(BadInputError, match="two distinct words"):
        offline.shuffle_words(["x", "x"], rng)


def test_bbc_pos_tags_cache_and_tagset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spacy = pytest.importorskip("spacy", reason="bbc_pos needs the optional 'nlp' extra")
    from latentatlas import annotate as ann

    task = load_task("bbc_pos", max_train=60, max_eval=20, cache_dir=tmp_path, seed=5)
    _check_contract(task)
    assert len(task.train) == 60 and len(task.validation) == 20
    assert not set(task.train.groups.tolist()) & set(task.validation.groups.tolist())
    labels = task.info.labels
    # spot-check: 'the' is DT wherever it appears
    the = [labels[t] for ws, ts in zip(task.train.words, task.train.tags) for w, t in zip(ws, ts) if w == "the"]
    assert the and set(the) == {"DT"}
    monkeypatch.setattr(ann, "_load_pipeline", lambda *_: pytest.fail("spaCy ran although tags were cached"))
    again = load_task("bbc_pos", max_train=60, max_eval=20, cache_dir=tmp_path, seed=5)
    assert again.train.words == task.train.words
    assert all(np.array_equal(a, b) for a, b in zip(again.train.tags, task.train.tags))
    monkeypatch.undo()
    tagger = spacy.load(ann.SPACY_MODEL, disable=["parser", "ner", "lemmatizer"]).get_pipe("tagger")
    assert offline.PTB_TAGS == tuple(sorted(set(tagger.labels) - {"_SP"}))
    # by hand: each word's most frequent train tag, else the overall most frequent train tag
    words_tags = [(w, int(t)) for ws, ts in zip(task.train.words, task.train.tags) for w, t in zip(ws, ts)]
    overall = Counter(t for _, t in words_tags).most_common(1)[0][0]
    by_word: dict[str, Counter] = {}
    for w, t in words_tags:
        by_word.setdefault(w, Counter())[t] += 1
    hits = total = 0
    for ws, ts in zip(task.validation.words, task.validation.tags):
        for w, t in zip(ws, ts):
            pred = min(by_word[w], key=lambda k: (-by_word[w][k], k)) if w in by_word else overall
            hits += pred == t
            total += 1
    assert per_word_baseline(task)["score"] == pytest.approx(hits / total)
    # the constant baseline: the most frequent train tag for every word
    flat = np.concatenate(task.validation.tags)
    assert majority_baseline(task)["score"] == pytest.approx(float(np.mean(flat == overall)))
