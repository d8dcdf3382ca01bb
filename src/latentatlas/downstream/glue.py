"""GLUE loaders: the TSV files as distributed, a Hugging Face dataset saved to disk, or the hub.

The nine tasks (Wang et al., 2019) with their official metrics and the label names and order of the
Hugging Face ``nyu-mll/glue`` dataset. Sources, picked from ``data_dir`` (see :func:`load_glue`):

* **files**: the GLUE download (``glue_data/``) with one folder per task (``CoLA/``, ``SST-2/``, ...)
  holding ``train.tsv`` and ``dev.tsv`` (MNLI: ``dev_matched.tsv``); ``data_dir`` may be the GLUE root or
  the task folder itself. Read with the real formats: CoLA has no header, the others do; fields are
  tab-separated with no quoting (GLUE sentences contain stray quote characters).
* **disk**: a ``datasets.DatasetDict`` written with ``save_to_disk`` (``data_dir`` itself or
  ``data_dir/<task>``), with the hub's column names.
* **hub**: ``data_dir="nyu-mll/glue"`` downloads with ``datasets.load_dataset`` when online.

Nothing found, or the hub while offline, raises a :class:`MissingAssetError` that says where to put the
files. A malformed file raises a :class:`BadInputError` naming the file, the column or value and what
was expected.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInputError, MissingAssetError, require
from ..registry import Registry
from .base import Split, TaskData, TaskInfo, TaskKind

log = logging.getLogger(__name__)

HUB_NAME = "nyu-mll/glue"
MISSING_HINT = (  # GLUE data reach latentatlas through a study file only: no command has a data-folder flag
    "download GLUE and set the task's data_dir in the study file (tasks: [{name: rte, data_dir: "
    "PATH/TO/glue_data}], folders CoLA/, SST-2/, ...) or point it at a dataset saved with datasets.save_to_disk"
)


@dataclass(frozen=True)
class GlueSpec:
    """How one GLUE task is stored, in the TSV files and in the Hugging Face dataset.

    ``label_values`` maps the label strings of the TSV files to class ids (``None`` for the regression
    task STS-B, whose scores are floats). ``columns`` names the columns of a header-less file (CoLA).
    """

    name: str
    folder: str
    kind: TaskKind
    metric: str
    labels: tuple[str, ...]
    text_a: str
    text_b: str | None
    label: str
    label_values: dict[str, int] | None
    description: str
    dev_file: str = "dev.tsv"
    columns: tuple[str, ...] | None = None
    hf_text_a: str = "sentence1"
    hf_text_b: str | None = "sentence2"
    hf_validation: str = "validation"

    @property
    def info(self) -> TaskInfo:
        return TaskInfo(
            name=self.name,
            kind=self.kind,
            metric=self.metric,
            labels=self.labels,
            pair=self.text_b is not None,
            suite="glue",
            description=self.description,
        )


_BINARY = {"0": 0, "1": 1}

#: task name -> storage description (registry; GLUE benchmark order).
GLUE_SPECS: Registry[GlueSpec] = Registry.of("GLUE task", {
    s.name: s
    for s in (
        GlueSpec(
            "cola", "CoLA", "classification", "mcc", ("unacceptable", "acceptable"),
            text_a="sentence", text_b=None, label="label", label_values=_BINARY,
            columns=("source", "label", "original_label", "sentence"),
            hf_text_a="sentence", hf_text_b=None,
            description="CoLA: is the sentence grammatically acceptable? (Matthews corr.)",
        ),
        GlueSpec(
            "sst2", "SST-2", "classification", "accuracy", ("negative", "positive"),
            text_a="sentence", text_b=None, label="label", label_values=_BINARY,
            hf_text_a="sentence", hf_text_b=None,
            description="SST-2: movie review sentence sentiment (accuracy)",
        ),
        GlueSpec(
            "mrpc", "MRPC", "classification", "acc_f1", ("not_equivalent", "equivalent"),
            text_a="#1 String", text_b="#2 String", label="Quality", label_values=_BINARY,
            description="MRPC: are the two news sentences paraphrases? (accuracy/F1)",
        ),
        GlueSpec(
            "stsb", "STS-B", "regression", "pearson_spearman", (),
            text_a="sentence1", text_b="sentence2", label="score", label_values=None,
            description="STS-B: semantic similarity of two sentences, 0-5 (Pearson/Spearman)",
        ),
        GlueSpec(
            "qqp", "QQP", "classification", "acc_f1", ("not_duplicate", "duplicate"),
            text_a="question1", text_b="question2", label="is_duplicate", label_values=_BINARY,
            hf_text_a="question1", hf_text_b="question2",
            description="QQP: are the two Quora questions duplicates? (accuracy/F1)",
        ),
        GlueSpec(
            "mnli", "MNLI", "classification", "accuracy", ("entailment", "neutral", "contradiction"),
            text_a="sentence1", text_b="sentence2", label="gold_label",
            label_values={"entailment": 0, "neutral": 1, "contradiction": 2},
            dev_file="dev_matched.tsv", hf_text_a="premise", hf_text_b="hypothesis",
            hf_validation="validation_matched",
            description="MNLI: premise/hypothesis entailment, 3 classes, dev matched (accuracy)",
        ),
        GlueSpec(
            "qnli", "QNLI", "classification", "accuracy", ("entailment", "not_entailment"),
            text_a="question", text_b="sentence", label="label",
            label_values={"entailment": 0, "not_entailment": 1},
            hf_text_a="question", hf_text_b="sentence",
            description="QNLI: does the sentence answer the question? (accuracy)",
        ),
        GlueSpec(
            "rte", "RTE", "classification", "accuracy", ("entailment", "not_entailment"),
            text_a="sentence1", text_b="sentence2", label="label",
            label_values={"entailment": 0, "not_entailment": 1},
            description="RTE: textual entailment, 2 classes (accuracy)",
        ),
        GlueSpec(
            "wnli", "WNLI", "classification", "accuracy", ("not_entailment", "entailment"),
            text_a="sentence1", text_b="sentence2", label="label", label_values=_BINARY,
            description="WNLI: Winograd-schema entailment (accuracy; adversarial dev set)",
        ),
    )
})


def glue_spec(name: str) -> GlueSpec:
    """The storage description of GLUE task ``name`` (:class:`UnknownNameError` with close names)."""
    return GLUE_SPECS[name]


# ---------------------------------------------------------------- TSV files


def _read_tsv(path: Path, columns: tuple[str, ...] | None) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, fields) rows of a GLUE TSV, read with no quoting and BOM stripped."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [(i + 1, r) for i, r in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))]
    rows = [(n, r) for n, r in rows if r and any(field.strip() for field in r)]
    if columns is not None:
        return list(columns), rows
    if not rows:
        raise BadInputError(f"GLUE file {str(path)!r} is empty; it needs a header line and rows. {MISSING_HINT}.")
    return [h.strip() for h in rows[0][1]], rows[1:]


def _split_from_tsv(spec: GlueSpec, path: Path) -> Split:
    header, rows = _read_tsv(path, spec.columns)
    needed = [c for c in (spec.text_a, spec.text_b, spec.label) if c is not None]
    missing = [c for c in needed if c not in header]
    if missing:
        raise BadInputError(
            f"GLUE file {str(path)!r} has no column {', '.join(map(repr, missing))}; {spec.folder} files "
            f"need columns {needed} (its header is {header}). Pass the {spec.folder} files as distributed."
        )
    idx = {c: header.index(c) for c in needed}
    width = max(idx.values()) + 1
    text_a: list[str] = []
    text_b: list[str] = []
    labels: list[Any] = []
    for line, row in rows:
        if len(row) < width:
            raise BadInputError(
                f"GLUE file {str(path)!r} line {line} has {len(row)} tab-separated fields but column "
                f"{header[width - 1]!r} is field {width}; repair or re-download the file."
            )
        value = row[idx[spec.label]].strip()
        labels.append(_label_value(spec, value, f"GLUE file {str(path)!r} line {line}"))
        text_a.append(row[idx[spec.text_a]].strip())  # SST-2 rows end in "sentence . \t1"
        if spec.text_b is not None:
            text_b.append(row[idx[spec.text_b]].strip())
    if not labels:
        raise BadInputError(f"GLUE file {str(path)!r} has a header but no rows; {MISSING_HINT}.")
    return _make_split(spec, text_a, text_b, labels)


def _label_value(spec: GlueSpec, value: str, where: str) -> int | float:
    if spec.label_values is None:
        try:
            score = float(value)
        except ValueError:
            score = float("nan")
        if not np.isfinite(score):
            raise BadInputError(
                f"{where}: {spec.label} {value!r} is not a number; {spec.folder} scores are floats 0-5."
            )
        return score
    if value not in spec.label_values:
        raise BadInputError(
            f"{where}: unknown label {value!r} in column {spec.label!r}; expected one of "
            f"{sorted(spec.label_values)}. Pass the {spec.folder} files as distributed."
        )
    return spec.label_values[value]


def _make_split(spec: GlueSpec, text_a: list[str], text_b: list[str], labels: list[Any]) -> Split:
    dtype = np.float32 if spec.kind == "regression" else np.int64
    return Split(
        text_a=tuple(text_a),
        text_b=tuple(text_b) if spec.text_b is not None else None,
        labels=np.asarray(labels, dtype=dtype),
    )


def _task_folder(spec: GlueSpec, data_dir: Path) -> Path:
    for folder in (data_dir / spec.folder, data_dir / spec.name, data_dir):
        if (folder / "train.tsv").is_file():
            return folder
    raise MissingAssetError(
        f"no GLUE {spec.folder} files under {str(data_dir)!r} (looked for {spec.folder}/train.tsv and "
        f"train.tsv); {MISSING_HINT}."
    )


def _load_files(spec: GlueSpec, data_dir: Path) -> TaskData:
    folder = _task_folder(spec, data_dir)
    dev = folder / spec.dev_file
    if not dev.is_file():
        raise MissingAssetError(f"GLUE folder {str(folder)!r} has train.tsv but no {spec.dev_file}; {MISSING_HINT}.")
    return TaskData(spec.info, _split_from_tsv(spec, folder / "train.tsv"), _split_from_tsv(spec, dev))


# ---------------------------------------------------------------- Hugging Face datasets


def _saved_dataset_dir(spec: GlueSpec, data_dir: Path) -> Path | None:
    for folder in (data_dir / spec.name, data_dir):
        if (folder / "dataset_dict.json").is_file():
            return folder
    return None


def _split_from_hf(spec: GlueSpec, ds: Any, where: str) -> Split:
    needed = [c for c in (spec.hf_text_a, spec.hf_text_b, "label") if c is not None]
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        raise BadInputError(
            f"{where} has no column {', '.join(map(repr, missing))}; {spec.name} needs columns {needed} "
            f"(it has {ds.column_names}), as in the hub dataset {HUB_NAME}."
        )
    feature = ds.features["label"]
    names = getattr(feature, "names", None)
    if spec.label_values is not None and names is not None and tuple(names) != spec.labels:
        raise BadInputError(
            f"{where}: label names {list(names)} differ from {spec.name}'s {list(spec.labels)}; save the "
            f"dataset of {HUB_NAME} ({spec.name}) unchanged."
        )
    labels = list(ds["label"])
    if spec.label_values is not None:
        bad = sorted({v for v in labels if not (isinstance(v, int) and 0 <= v < len(spec.labels))}, key=str)
        if bad:
            raise BadInputError(
                f"{where}: unknown label value(s) {bad[:5]} in column 'label'; expected ids "
                f"0..{len(spec.labels) - 1} ({', '.join(spec.labels)}). Test splits have no labels (-1)."
            )
    text_b = list(ds[spec.hf_text_b]) if spec.hf_text_b is not None else []
    return _make_split(spec, list(ds[spec.hf_text_a]), text_b, labels)


def _from_dataset_dict(spec: GlueSpec, dd: Any, where: str) -> TaskData:
    splits = list(dd.keys()) if hasattr(dd, "keys") else []
    for name in ("train", spec.hf_validation):
        if name not in splits:
            raise BadInputError(
                f"{where} has no split {name!r} (it has {splits}); {spec.name} needs 'train' and "
                f"{spec.hf_validation!r} as in {HUB_NAME}."
            )
    return TaskData(
        spec.info,
        _split_from_hf(spec, dd["train"], f"{where} split 'train'"),
        _split_from_hf(spec, dd[spec.hf_validation], f"{where} split {spec.hf_validation!r}"),
    )


def _load_disk(spec: GlueSpec, data_dir: Path) -> TaskData:
    folder = _saved_dataset_dir(spec, data_dir)
    if folder is None:
        raise MissingAssetError(f"no saved dataset (dataset_dict.json) under {str(data_dir)!r}; {MISSING_HINT}.")
    datasets: Any = require("datasets", "glue")
    return _from_dataset_dict(spec, datasets.load_from_disk(str(folder)), f"saved dataset {str(folder)!r}")


def _offline() -> bool:
    truthy = {"1", "true", "yes", "on"}
    return any(os.environ.get(v, "").lower() in truthy for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _load_hub(spec: GlueSpec, data_dir: Path | None) -> TaskData:
    if _offline():
        raise MissingAssetError(
            f"GLUE {spec.name} from the hub ({HUB_NAME}) needs a network connection but this session is "
            f"offline (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE); {MISSING_HINT}."
        )
    datasets: Any = require("datasets", "glue")
    try:
        dd = datasets.load_dataset(HUB_NAME, spec.name)
    except Exception as exc:  # noqa: BLE001 - any failure here means the data is not reachable
        raise MissingAssetError(f"could not load {HUB_NAME}/{spec.name} from the hub ({exc}); {MISSING_HINT}.") from exc
    return _from_dataset_dict(spec, dd, f"hub dataset {HUB_NAME}/{spec.name}")


# ---------------------------------------------------------------- dispatch

GlueSource = Callable[[GlueSpec, Path], TaskData]
#: source name -> loader (``auto`` picks one from the contents of ``data_dir``).
SOURCES: Registry[GlueSource] = Registry.of(
    "GLUE source", {"files": _load_files, "disk": _load_disk, "hub": _load_hub},
    hint="Sources: auto (from the data directory), files, disk, hub.",
)


def _auto_source(spec: GlueSpec, data_dir: str | Path | None) -> str:
    if data_dir is None:
        raise MissingAssetError(f"GLUE {spec.name} is not bundled (no data directory given); {MISSING_HINT}.")
    if str(data_dir) == HUB_NAME and not Path(data_dir).exists():
        return "hub"
    path = Path(data_dir)
    if not path.is_dir():
        raise MissingAssetError(f"GLUE data directory {str(path)!r} does not exist; {MISSING_HINT}.")
    return "disk" if _saved_dataset_dir(spec, path) is not None else "files"


def load_glue(name: str, *, data_dir: str | Path | None = None, source: str = "auto") -> TaskData:
    """Load a GLUE task's train and validation splits (MNLI: validation = dev matched).

    Args:
        name: ``cola``, ``sst2``, ``mrpc``, ``stsb``, ``qqp``, ``mnli``, ``qnli``, ``rte`` or ``wnli``.
        data_dir: the GLUE root (``glue_data/`` with ``CoLA/``, ``SST-2/``, ...), one task's folder, a
            ``datasets.DatasetDict`` saved with ``save_to_disk`` (itself or in ``data_dir/<name>``), or
            ``"nyu-mll/glue"`` for the hub.
        source: ``auto`` (from ``data_dir``), ``files``, ``disk`` or ``hub``.

    Raises:
        MissingAssetError: no data found, or the hub requested while offline.
        BadInputError: a file lacks a column or holds an unknown label.
    """
    spec = glue_spec(name)
    chosen = _auto_source(spec, data_dir) if source == "auto" else source
    load = SOURCES[chosen]
    if chosen != "hub" and data_dir is None:
        raise MissingAssetError(f"GLUE {spec.name} source {chosen!r} needs a data directory; {MISSING_HINT}.")
    loaded = load(spec, Path(data_dir) if data_dir is not None else None)  # type: ignore[arg-type]
    log.info(
        "GLUE %s (%s): %d train, %d validation examples", name, chosen, len(loaded.train), len(loaded.validation)
    )
    return loaded
