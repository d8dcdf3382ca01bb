"""The Python API for notebooks: activations, per-layer tables, studies and their results in a few lines.

::

    import latentatlas as la

    acts = la.extract("minilm", "bundled", n_sentences=200)        # cached like the CLI
    X = acts.cloud(6, max_points=2000)                              # (2000, 384) float32
    table = la.layer_table("minilm", "bundled", measures=["eee", "twonn"])  # one row per layer
    la.measure(X, "mle", k=10)                                      # any measure on any array
    res = la.Study.from_yaml("study.yaml").run(output="out")       # the whole study
    res = la.load_results("out"); res.correlations.head()

Every function here is a thin layer over the pipeline (:mod:`latentatlas.pipeline`), the activation store
(:func:`latentatlas.store.open_store`) and the measure registry, with the same caches and the same keys
as the command line: a store extracted here is reused by ``latentatlas run`` and the other way round.
Models are given as a spec string (``"minilm"``, ``"minilm@perturb(alpha=10,seed=0)"``, a local folder,
a hub name) or as an already loaded ``transformers`` model with its tokenizer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import cachedir
from .corpus import Corpus
from .errors import BadInputError
from .io import default_cache
from .measures import registry as reg
from .models import LoadedModel, ModelSpec, fingerprint
from .pipeline import load_study, run_study
from .pipeline.corpus import study_corpus
from .pipeline.measure import MeasureCache, cached_battery, cloud_key
from .pipeline.plan import check_study
from .settings import CorpusSpec, ExtractionSettings, MeasureEntry, check_site, read_study
from .settings import Study as StudySettings
from .store import ActivationStore, open_store

log = logging.getLogger(__name__)

#: A model: a spec string or local folder, or a loaded ``transformers`` model (with ``tokenizer=``).
ModelLike = Any
#: A corpus: ``"bundled"``, a .txt/.jsonl/.csv path, a :class:`~latentatlas.settings.CorpusSpec`, or sentences.
CorpusLike = Any


# -- activations ---------------------------------------------------------------------------------------


@dataclass
class Activations:
    """The token-level hidden states of one model over one corpus (an on-disk, memory-mapped store).

    Attributes:
        store: the :class:`~latentatlas.store.ActivationStore` entry in the cache.
        model: the model's spec (for a model given as an object: ``memory:<name>:<fingerprint>``).
        fingerprint: sha256 of the model's exact weights (the model part of every cache key).
        sentences: the sentences, in store order (``tokens.sentence_id`` indexes them).
        site: where in each block the vectors were read (``residual``, ``attention``, ``mlp`` or
            ``module:PATTERN``; :mod:`latentatlas.store.sites`).
    """

    store: ActivationStore
    model: str
    fingerprint: str
    sentences: tuple[str, ...]
    site: str = "residual"

    @property
    def layers(self) -> list[int]:
        """The stored layers (0 = embeddings, then one per transformer block)."""
        return self.store.layers

    @property
    def tokens(self) -> pd.DataFrame:
        """One row per stored vector: sentence_id, position, token_id, token, word_id, is_special."""
        return self.store.tokens

    @property
    def n_tokens(self) -> int:
        return self.store.n_tokens

    @property
    def hidden_size(self) -> int:
        return self.store.hidden_size

    @property
    def path(self) -> Path:
        return self.store.path

    def cloud(self, layer: int, max_points: int | None = None, seed: int = 0, *,
              drop_special: bool = False) -> np.ndarray:
        """The layer's token cloud, ``(n_points, hidden_size)`` float32.

        Args:
            layer: layer index (negative counts from the last).
            max_points: seeded subsample of this many rows without replacement (store order kept);
                None: every token. The pipeline measures the same subsample for the same ``seed``.
            seed: seed of the subsample.
            drop_special: leave out [CLS]/[SEP] rows (before subsampling).
        """
        return self.store.cloud(layer, max_points=max_points, seed=seed, drop_special=drop_special)

    def __repr__(self) -> str:
        return (f"Activations({self.model!r}, {len(self.sentences)} sentences, {self.n_tokens} tokens, "
                f"layers {self.layers})")


def extract(
    model: ModelLike,
    corpus: CorpusLike = "bundled",
    *,
    tokenizer: Any = None,
    layers: str | int | list[int] = "all",
    site: str = "residual",
    n_sentences: int | None = 1000,
    seed: int = 0,
    cache: str | Path | None = None,
    settings: ExtractionSettings | None = None,
    progress: bool = False,
) -> Activations:
    """Extract (or reopen from the cache) the hidden states of ``model`` over ``corpus``.

    Args:
        model: a spec string or local Hugging Face folder, or a loaded ``transformers`` model; a model
            object needs its ``tokenizer`` (a ``(model, tokenizer)`` tuple works too). A model object is
            put in eval mode and keyed by a hash of its config, parameter bytes and vocabulary.
        corpus: ``"bundled"`` (BBC News), a .txt/.jsonl/.csv path, a CorpusSpec, or a list of sentences
            (used as given: no filtering or sampling).
        layers: ``"all"``, ``"last"``, an index, a list, ``"0,3,-1"`` or ``"1:4"``.
        site: where in each block the vectors are read: ``"residual"`` (the block's output, as
            ``hidden_states``), ``"attention"``, ``"mlp"`` or ``"module:PATTERN"`` (any submodule whose
            name matches, through forward hooks).
        n_sentences, seed: the seeded sample of a corpus file or the bundled corpus (default 1000).
        cache: cache folder; default ``$LATENTATLAS_CACHE`` or ``.latentatlas-cache``.
        settings: extraction settings (max_length, dtype, special tokens, batch size, device).
        progress: show progress bars.
    """
    root = Path(cache if cache is not None else default_cache())
    sentences = _sentences(corpus, n_sentences, seed)
    lm = _model(model, tokenizer, root)
    site = check_site(site)
    store, lm = open_store(lm, sentences, cache=root, layers=layers, site=site, settings=settings, progress=progress)
    return Activations(store=store, model=str(lm.spec), fingerprint=lm.fingerprint, sentences=tuple(sentences),
                       site=site)


def _sentences(corpus: CorpusLike, n_sentences: int | None, seed: int) -> list[str]:
    if isinstance(corpus, Corpus):
        return list(corpus.sentences)
    if isinstance(corpus, CorpusSpec):
        return list(study_corpus(corpus).sentences)
    if isinstance(corpus, (str, Path)):
        spec = CorpusSpec.checked("invalid corpus", {"source": str(corpus), "n_sentences": n_sentences, "seed": seed})
        return list(study_corpus(spec).sentences)
    if isinstance(corpus, Sequence) and corpus and all(isinstance(s, str) for s in corpus):
        return list(corpus)
    raise BadInputError(f"corpus of type {type(corpus).__name__} is not usable; pass 'bundled', a .txt/.jsonl/.csv "
                        "path, a CorpusSpec or a non-empty list of sentences.")


def _model(model: ModelLike, tokenizer: Any, cache: Path) -> str | ModelSpec | LoadedModel:
    if isinstance(model, tuple) and len(model) == 2 and tokenizer is None:
        model, tokenizer = model
    if isinstance(model, (str, Path, ModelSpec)):
        if tokenizer is not None:
            raise BadInputError("tokenizer= goes with a loaded model object; a spec or folder brings its own tokenizer.")
        return ModelSpec.parse(str(model)) if isinstance(model, Path) else model
    if isinstance(model, LoadedModel):
        return model
    if not (hasattr(model, "config") and hasattr(model, "state_dict")):
        raise BadInputError(f"model of type {type(model).__name__} is neither a spec, a folder nor a loaded "
                            "transformers model; pass e.g. 'minilm' or AutoModel.from_pretrained(...).")
    if tokenizer is None:
        raise BadInputError("a loaded model needs its tokenizer: pass tokenizer=AutoTokenizer.from_pretrained(...).")
    fp = object_fingerprint(model, tokenizer)
    name = Path(str(getattr(model.config, "_name_or_path", "") or type(model).__name__)).name or type(model).__name__
    return LoadedModel(model.eval(), tokenizer, ModelSpec(base=f"memory:{name}:{fp[:12]}"), fp)


def object_fingerprint(model: Any, tokenizer: Any) -> str:
    """sha256 of a loaded model's class, config, every parameter and buffer (name, dtype, shape, bytes) and
    its tokenizer's class and vocabulary: two objects with equal weights and vocabularies share a key."""
    import torch

    h = hashlib.sha256()
    h.update(type(model).__name__.encode())
    h.update(model.config.to_json_string(use_diff=False).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    h.update(type(tokenizer).__name__.encode())
    h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    return h.hexdigest()


# -- measures ------------------------------------------------------------------------------------------


def measure(X: Any, name: str, *, seed: int = 0, **params: Any) -> float:
    """Measure ``name`` on any ``(n_points, n_dims)`` array (or PointCloud), parameters checked first.

    ``la.measure(X, "mle", k=10)``; ``latentatlas measures NAME`` lists a measure's parameters.
    """
    return reg.compute(name, X, seed=seed, **params)


def layer_table(
    model: ModelLike,
    corpus: CorpusLike = "bundled",
    *,
    measures: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
    tokenizer: Any = None,
    layers: str | int | list[int] = "all",
    site: str = "residual",
    n_sentences: int | None = 1000,
    seed: int = 0,
    max_points: int | None = 20000,
    cache: str | Path | None = None,
    settings: ExtractionSettings | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """The per-layer profile of one model: one row per layer, one column per measure (plus ``n_points``).

    Each layer's cloud is the same seeded subsample of ``max_points`` tokens the pipeline measures, and
    the values go through the same measure cache, so a study over the same model, corpus, ``max_points``
    and ``seed`` reuses them (and the other way round).

    Args:
        measures: names (default: every single-cloud measure), or ``{name: {param: value}}``.
        Other arguments: as :func:`extract`.
    """
    root = Path(cache if cache is not None else default_cache())
    entries = _entries(measures)
    acts = extract(model, corpus, tokenizer=tokenizer, layers=layers, site=site, n_sentences=n_sentences, seed=seed,
                   cache=root, settings=settings, progress=progress)
    store_cache = MeasureCache(root)
    rows = []
    for layer in acts.layers:
        X = acts.cloud(layer, max_points=max_points, seed=seed)
        values, _ = cached_battery(X, entries, seed=seed, cache=store_cache,
                                   key=cloud_key(acts.store, layer, max_points, seed))
        rows.append({"layer": layer, **values, "n_points": int(X.shape[0])})
    return pd.DataFrame(rows, columns=["layer", *[e.name for e in entries], "n_points"])


def _entries(measures: Sequence[str] | Mapping[str, Mapping[str, Any]] | None) -> list[MeasureEntry]:
    if measures is None:
        return [MeasureEntry(name=n) for n in reg.names()]
    if isinstance(measures, str):
        measures = [measures]
    items = measures.items() if isinstance(measures, Mapping) else ((m, {}) for m in measures)
    entries = [MeasureEntry(name=n, params=dict(p or {})) for n, p in items]
    if not entries:
        raise BadInputError("measures=[] names no measure; pass at least one name, or None for all.")
    for e in entries:
        reg.cloud_measure(e.name).check_params(e.params)
    return entries


# -- studies and their results -------------------------------------------------------------------------

#: The tables a study writes besides ``results``, by file stem (absent ones are None).
TABLES = ("scores", "model_scores", "baselines", "task_summary", "transfer", "correlations", "fits",
          "holdout_predictions", "transfer_comparison", "selection", "models")


@dataclass
class Results:
    """The tables of a finished study (see :func:`load_results`); tables a study did not produce are None.

    Attributes:
        folder: the output folder.
        results: the tidy geometry table, one row per (model, layer, measure).
        manifest: ``run.json``: the study as run, versions, timings.
        scores ... models: the downstream and analysis tables (with tasks), as written.
    """

    folder: Path
    results: pd.DataFrame
    manifest: dict[str, Any] = field(repr=False)
    scores: pd.DataFrame | None = None
    model_scores: pd.DataFrame | None = None
    baselines: pd.DataFrame | None = None
    task_summary: pd.DataFrame | None = None
    transfer: pd.DataFrame | None = None
    correlations: pd.DataFrame | None = None
    fits: pd.DataFrame | None = None
    holdout_predictions: pd.DataFrame | None = None
    transfer_comparison: pd.DataFrame | None = None
    selection: pd.DataFrame | None = None
    models: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table present, by name (``results`` first)."""
        out = {"results": self.results}
        out.update({t: getattr(self, t) for t in TABLES if getattr(self, t) is not None})
        return out

    def profile(self, spec: str | None = None) -> pd.DataFrame:
        """Wide per-layer table: one row per (spec, layer), one column per measure (one model: ``spec``)."""
        df = self.results if spec is None else self.results[self.results["spec"] == spec]
        if df.empty:
            raise BadInputError(f"no results for model {spec!r}; the study's models are "
                                f"{sorted(self.results['spec'].unique())}.")
        wide = df.pivot_table(index=["spec", "layer"], columns="measure", values="value", sort=False)
        return wide.reset_index().rename_axis(columns=None)

    def __repr__(self) -> str:
        n_models = self.results["spec"].nunique()
        return f"Results({str(self.folder)!r}, {n_models} models, tables {list(self.tables())})"


def load_results(folder: str | Path) -> Results:
    """The tables of a study output folder (written by ``latentatlas run`` or :meth:`Study.run`).

    Raises:
        BadInputError: the folder is missing or is not a finished study output (no ``run.json``).
    """
    out = Path(folder)
    if not out.is_dir():
        raise BadInputError(f"study output folder {str(out)!r} does not exist; pass the output folder of "
                            "`latentatlas run` (default latentatlas-out).")
    if not (out / "run.json").is_file() or not ((out / "results.parquet").is_file() or (out / "results.csv").is_file()):
        raise BadInputError(f"{str(out)!r} is not a finished study output (no run.json and results table); pass "
                            "the output folder of `latentatlas run`, or rerun the study.")
    results = (pd.read_parquet(out / "results.parquet") if (out / "results.parquet").is_file()
               else pd.read_csv(out / "results.csv"))
    tables = {t: pd.read_csv(out / f"{t}.csv") for t in TABLES if (out / f"{t}.csv").is_file()}
    manifest = json.loads((out / "run.json").read_text())
    return Results(folder=out, results=results, manifest=manifest, **tables)


class Study:
    """A study ready to run: ``la.Study.from_yaml("study.yaml").run(output="out")``.

    Wraps the validated :class:`latentatlas.settings.Study` (``.settings``), its registry names checked.
    """

    def __init__(self, settings: StudySettings | None = None, **fields: Any) -> None:
        """From settings, or from fields as in a study file: ``Study(models=["minilm"], measures=["eee"])``."""
        if settings is not None and fields:
            raise BadInputError("pass either a settings object or study fields, not both.")
        if settings is None:
            settings = StudySettings.checked("invalid study", fields)
        self.settings: StudySettings = check_study(settings)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Study:
        """Read and check a study file (strict YAML: no duplicate keys, no aliases)."""
        return cls(load_study(path))

    @classmethod
    def preset(cls, name: str = "default") -> Study:
        """A built-in study: ``default``, ``quick`` or ``full``."""
        return cls(read_study(None, preset=name))

    def override(
        self,
        *,
        models: Sequence[str] | None = None,
        corpus: str | None = None,
        measures: Sequence[str] | None = None,
        layers: str | None = None,
        n_sentences: int | None = None,
        sites: Sequence[str] | None = None,
        encoding: str | None = None,
        output: str | Path | None = None,
        cache: str | Path | None = None,
    ) -> Study:
        """A copy with quick overrides (None leaves a field as it is), validated like a study file.

        ``models`` replaces the model list; held-out models not among the new ones are dropped from
        ``analysis.holdout`` (logged). ``corpus`` replaces the corpus source, ``n_sentences`` its sample size
        and ``encoding`` its text encoding; ``sites`` replaces the activation sites.
        """
        data = self.settings.model_dump(mode="json")
        if models is not None:
            data["models"] = list(models)
            new = {str(ModelSpec.parse(m)) for m in models}
            held = data["analysis"]["holdout"]
            kept = [h for h in held if str(ModelSpec.parse(h)) in new]
            if len(kept) < len(held):
                log.info("--model replaces the study's models: %d held-out model(s) not among them left out of "
                         "analysis.holdout", len(held) - len(kept))
            data["analysis"]["holdout"] = kept
        if corpus is not None:
            data["corpus"]["source"] = corpus
        if n_sentences is not None:
            data["corpus"]["n_sentences"] = n_sentences
        if encoding is not None:
            data["corpus"]["encoding"] = encoding
        if sites is not None:
            data["sites"] = list(sites)
        if measures is not None:
            data["measures"] = list(measures)
        for key, value in (("layers", layers), ("output", output), ("cache", cache)):
            if value is not None:
                data[key] = str(value)
        return Study(StudySettings.checked("invalid option", data))

    def run(self, output: str | Path | None = None, *, progress: bool = False, engine: Any = None) -> Results:
        """Run every stage (cached) and write the outputs; returns the tables as :func:`load_results` does."""
        result = run_study(self.settings, output=output, progress=progress, engine=engine)
        return load_results(result.output_dir)

    def __repr__(self) -> str:
        s = self.settings
        return f"Study({s.name!r}, {len(s.models)} models, measures={s.measures!r}, cache={s.cache!r})"


# -- the cache -----------------------------------------------------------------------------------------


def cache_entries(cache: str | Path | None = None) -> pd.DataFrame:
    """Every cache entry: kind, name, bytes, age_s, model (fingerprint or zoo folder, where known), partial."""
    root = Path(cache if cache is not None else default_cache())
    found = cachedir.entries(root)
    return pd.DataFrame(
        [{"kind": e.kind, "name": e.path.name, "bytes": e.bytes, "age_s": e.age_s(), "model": e.model,
          "partial": e.partial, "path": str(e.path)} for e in found],
        columns=["kind", "name", "bytes", "age_s", "model", "partial", "path"],
    )


def prune_cache(
    cache: str | Path | None = None,
    *,
    older_than: str | None = None,
    models: Sequence[str] | None = None,
    dry_run: bool = False,
) -> list[cachedir.CacheEntry]:
    """Remove the cache entries older than ``older_than`` (``"30d"``, ``"12h"``) and/or belonging to one
    of ``models`` (specs: their activation stores, cached variant weights and zoo folders); returns them.

    Features, fine-tuning runs and measure values are not attributed to a model (their keys are hashes);
    prune them by age. With ``dry_run`` nothing is removed.
    """
    root = Path(cache if cache is not None else default_cache())
    found = cachedir.entries(root)  # checks the folder first
    age = cachedir.parse_age(older_than) if older_than is not None else None
    keys = None if models is None else _model_keys(models, root)
    chosen = cachedir.select(found, older_than_s=age, models=keys)
    if not dry_run:
        for e in chosen:
            cachedir.remove(e, root)
    return chosen


def _model_keys(models: Sequence[str], cache: Path) -> set[str]:
    """Fingerprints (and zoo folder names) of ``models``, computed without building anything."""
    from .pretrain.zoo import is_zoo, zoo_folder

    keys: set[str] = set()
    for m in models:
        spec = ModelSpec.parse(m)
        if is_zoo(spec.base):
            folder = zoo_folder(spec.base, cache)
            if spec.variant is None:
                keys.add(folder.name)
            if not (folder / "config.json").is_file():
                continue  # never built here: nothing else of it can be cached
        keys.add(fingerprint(spec, cache))
    return keys


__all__ = [
    "Activations", "Results", "Study", "cache_entries", "extract", "layer_table", "load_results", "measure",
    "object_fingerprint", "prune_cache",
]
