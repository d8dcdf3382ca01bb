"""On-disk activation store: one memory-mapped array per layer plus a parquet token index.

Layout of ``<cache_root>/activations/<key>/``::

    layer_00.npy ... layer_LL.npy   (n_tokens, width) float16/float32, rows in original sentence order
    tokens.parquet                  sentence_id, position, token_id, token, word_id, is_special
    manifest.json                   key, site, options, counts, per-file byte size and sha256, timings

``key`` is a sha256 of the model identity, the sentences, the activation site (:mod:`.sites`; absent from
the key of the default ``residual`` site, so its keys are those of stores built before sites existed) and
every option that changes the stored numbers. An entry is built in ``<key>.partial/`` shard by shard;
``progress.json`` records finished shards (written after the shard's rows are in the shared memory map),
so a killed build resumes where it stopped.
The directory is renamed to ``<key>/`` only when complete, manifest last. Opening an entry checks file
sizes and sha256 checksums; a missing, truncated or altered entry is logged and rebuilt. A file lock
keeps two processes from building the same entry at once. In a read-only cache folder a complete entry
is opened (and verified) without a lock; one that is missing or damaged there raises a one-line
:class:`~latentatlas.errors.ReadOnlyCacheError` naming the folder and the fix. Memory use is one batch of hidden states,
independent of corpus size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ..errors import CacheCorruptError
from ..io import atomic_write_json, content_key, entry_lock, read_only_error, writable
from ..provenance import versions
from ..settings import MODULE_PREFIX, RESIDUAL, ExtractionSettings, check_site
from .extractor import (
    Tokenized,
    forward_batch,
    length_sorted_batches,
    tokenize,
)
from .sites import forward_site, site_layers, site_modules

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
BATCHES_PER_SHARD = 8
Verify = Literal["checksum", "size"]


def _sha256_file(path: Path, block: int = 1 << 24) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def sentences_digest(sentences: Sequence[str]) -> str:
    h = hashlib.sha256()
    for s in sentences:
        h.update(s.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def store_key(
    model_key: str, sentences: Sequence[str], options: ExtractionSettings, layers: list[int], site: str = RESIDUAL
) -> str:
    """Content hash identifying an extraction (batch size excluded: it does not change the numbers)."""
    blob: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "model": model_key,
        "sentences": sentences_digest(sentences),
        "layers": layers,
        "max_length": options.max_length,
        "keep_special_tokens": options.keep_special_tokens,
        "dtype": options.dtype,
    }
    if options.device != "cpu":  # autocast changes the numbers; CPU keys stay as they were
        blob["device"] = options.device
    if site != RESIDUAL:  # residual keys stay as they were before sites existed
        blob["site"] = site
    return content_key(blob)


def _layer_file(layer: int) -> str:
    return f"layer_{layer:02d}.npy"


def _token_table(tok: Tokenized, kept: list[np.ndarray]) -> pd.DataFrame:
    sid, pos, tid, text, wid, spec = [], [], [], [], [], []
    for i, rows in enumerate(kept):
        sid.append(np.full(len(rows), i, dtype=np.int32))
        pos.append(rows.astype(np.int32))
        ids = np.asarray(tok.input_ids[i], dtype=np.int32)
        tid.append(ids[rows])
        text.extend(tok.tokens[i][r] for r in rows)
        wid.append(np.asarray(tok.word_ids[i], dtype=np.int32)[rows])
        spec.append(np.asarray(tok.special[i], dtype=bool)[rows])
    cat = lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dtype=dt)  # noqa: E731
    return pd.DataFrame(
        {
            "sentence_id": cat(sid, np.int32),
            "position": cat(pos, np.int32),
            "token_id": cat(tid, np.int32),
            "token": text,
            "word_id": cat(wid, np.int32),
            "is_special": cat(spec, bool),
        }
    )


class ActivationStore:
    """A finished, verified store entry. Open or build one with :meth:`build_or_open`."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self._tokens: pd.DataFrame | None = None
        self._layers: dict[int, np.ndarray] = {}

    # -- metadata ----------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        return str(self.manifest["key"])

    @property
    def layers(self) -> list[int]:
        return list(self.manifest["layers"])

    @property
    def n_tokens(self) -> int:
        return int(self.manifest["n_tokens"])

    @property
    def n_sentences(self) -> int:
        return int(self.manifest["n_sentences"])

    @property
    def hidden_size(self) -> int:
        """Width of the first stored layer (every layer's, except for module sites; see :meth:`width`)."""
        return int(self.manifest["hidden_size"])

    @property
    def site(self) -> str:
        """Where the vectors were read (:mod:`.sites`); ``residual`` for stores built before sites existed."""
        return str(self.manifest.get("site", RESIDUAL))

    @property
    def modules(self) -> list[str]:
        """Module name of each layer, for sites read by hooks (empty for ``residual``)."""
        return list(self.manifest.get("modules", []))

    def width(self, layer: int) -> int:
        """Number of columns of ``layer``."""
        widths = self.manifest.get("widths")
        return int(widths[str(layer)]) if widths else self.hidden_size

    @property
    def tokens(self) -> pd.DataFrame:
        """The token index, one row per stored vector."""
        if self._tokens is None:
            self._tokens = pd.read_parquet(self.path / "tokens.parquet")
        return self._tokens

    def __repr__(self) -> str:
        site = "" if self.site == RESIDUAL else f", site={self.site!r}"
        return f"ActivationStore({self.path}, n_tokens={self.n_tokens}, layers={self.layers}{site})"

    # -- data --------------------------------------------------------------------------------------
    def layer(self, layer: int) -> np.ndarray:
        """The read-only memory map of one layer, shape (n_tokens, hidden)."""
        if layer < 0:
            layer = self.layers[-1] + 1 + layer if self.layers else layer
        if layer not in self.layers:
            from ..errors import BadInputError

            raise BadInputError(f"layer {layer} is not in this store; it holds layers {self.layers}.")
        if layer not in self._layers:
            self._layers[layer] = np.load(self.path / _layer_file(layer), mmap_mode="r")
        return self._layers[layer]

    def cloud(
        self,
        layer: int,
        *,
        dtype: Any = np.float32,
        drop_special: bool = False,
        max_points: int | None = None,
        seed: int = 0,
    ) -> np.ndarray:
        """The layer's token cloud as an in-memory array, optionally without special tokens and
        subsampled to ``max_points`` rows (seeded, without replacement, rows kept in store order)."""
        rows = np.arange(self.n_tokens)
        if drop_special:
            rows = rows[~self.tokens["is_special"].to_numpy()]
        if max_points is not None and max_points < rows.size:
            rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_points, replace=False))
        return np.asarray(self.layer(layer)[rows], dtype=dtype)

    # -- building ----------------------------------------------------------------------------------
    @classmethod
    def build_or_open(
        cls,
        cache_root: Path | str,
        model: torch.nn.Module,
        tokenizer: Any,
        sentences: Sequence[str],
        *,
        model_key: str,
        options: ExtractionSettings | None = None,
        layers: str | int | list[int] = "all",
        progress: bool = True,
        verify: Verify = "checksum",
        engine: Any = None,
        site: str = RESIDUAL,
    ) -> ActivationStore:
        """Open the cached entry for these inputs, or extract it (resuming an interrupted build).

        ``site`` (:mod:`.sites`): where the vectors are read, ``residual`` (the hidden states), ``attention``,
        ``mlp`` or ``module:PATTERN``; it is checked against the model before anything is written.
        ``engine`` (a :class:`latentatlas.engine.Engine`, default local) runs the unfinished shards;
        with Ray they run on the cluster's workers, each writing its rows into the shared partial entry.
        """
        options = options or ExtractionSettings()
        site = check_site(site)
        layer_list = site_layers(model, site, layers)
        widths = _site_widths(model, tokenizer, sentences, options, site, layer_list)  # checked before any write
        key = store_key(model_key, sentences, options, layer_list, site)
        root = Path(cache_root) / "activations"
        final = root / key
        if not writable(root):
            return cls._open_read_only(final, cache_root, verify)
        root.mkdir(parents=True, exist_ok=True)
        with entry_lock(root / f"{key}.lock", cache_root, f"lacks the activation store {key[:12]}"):
            if final.exists():
                try:
                    store = cls.open(final, verify=verify)
                    log.info("activation store %s reused (%d tokens)", key[:12], store.n_tokens)
                    return store
                except CacheCorruptError as exc:
                    log.warning("activation store %s is corrupt (%s); rebuilding it", key[:12], exc)
                    shutil.rmtree(final)
            _build(final, model, tokenizer, list(sentences), model_key, options, layer_list, widths, progress, engine,
                   site)
            return cls.open(final, verify="size")

    @classmethod
    def _open_read_only(cls, final: Path, cache_root: Path | str, verify: Verify) -> ActivationStore:
        """A complete entry of a read-only cache, opened without a lock (entries appear by one rename)."""
        if not final.exists():
            raise read_only_error(cache_root, f"lacks the activation store {final.name[:12]} of this model and corpus")
        try:
            store = cls.open(final, verify=verify)
        except CacheCorruptError as exc:
            raise read_only_error(cache_root, f"holds the activation store {final.name[:12]} damaged ({exc})") from None
        log.info("activation store %s reused from a read-only cache (%d tokens)", final.name[:12], store.n_tokens)
        return store

    @classmethod
    def open(cls, path: Path | str, *, verify: Verify = "checksum") -> ActivationStore:
        """Open a finished entry, checking sizes (and sha256 checksums unless ``verify='size'``)."""
        path = Path(path)
        try:
            manifest = json.loads((path / "manifest.json").read_text())
            files = manifest["files"]
        except (OSError, ValueError, KeyError) as exc:
            raise CacheCorruptError(f"manifest of {path} is missing or unreadable ({exc})") from None
        for name, meta in files.items():
            f = path / name
            if not f.is_file():
                raise CacheCorruptError(f"{name} is missing")
            if f.stat().st_size != meta["bytes"]:
                raise CacheCorruptError(f"{name} has {f.stat().st_size} bytes, expected {meta['bytes']}")
            if verify == "checksum" and _sha256_file(f) != meta["sha256"]:
                raise CacheCorruptError(f"{name} fails its sha256 checksum")
        return cls(path, manifest)


def _build(
    final: Path,
    model: torch.nn.Module,
    tokenizer: Any,
    sentences: list[str],
    model_key: str,
    options: ExtractionSettings,
    layers: list[int],
    widths: dict[int, int],
    progress: bool,
    engine: Any = None,
    site: str = RESIDUAL,
) -> None:
    from ..engine import LocalEngine

    engine = engine if engine is not None else LocalEngine()
    t0 = time.perf_counter()
    model.eval()
    partial = final.with_name(final.name + ".partial")
    tok = tokenize(tokenizer, sentences, options.max_length)
    kept = tok.kept(options.keep_special_tokens)
    counts = np.array([len(k) for k in kept], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n_tokens = int(offsets[-1])
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = length_sorted_batches(tok.lengths(), options.batch_size)
    shards = [batches[s : s + BATCHES_PER_SHARD] for s in range(0, len(batches), BATCHES_PER_SHARD)]
    plan = {"key": final.name, "n_tokens": n_tokens, "n_shards": len(shards), "batch_size": options.batch_size}
    if site != RESIDUAL:
        plan["widths"] = {str(l): w for l, w in widths.items()}

    done: set[int] = set()
    progress_file = partial / "progress.json"
    if partial.exists():
        try:
            state = json.loads(progress_file.read_text())
            if state["plan"] == plan and all((partial / _layer_file(l)).is_file() for l in layers):
                done = set(state["done"])
                log.info("resuming extraction %s: %d of %d shards done", final.name[:12], len(done), len(shards))
            else:
                raise ValueError("different plan")
        except (OSError, ValueError, KeyError):
            log.warning("discarding unusable partial extraction %s", partial)
            shutil.rmtree(partial)
    if not done:
        partial.mkdir(parents=True, exist_ok=True)
        for layer in layers:
            np.lib.format.open_memmap(
                partial / _layer_file(layer), mode="w+", dtype=options.dtype, shape=(n_tokens, widths[layer])
            ).flush()
        _token_table(tok, kept).to_parquet(partial / "tokens.parquet", index=False)
        atomic_write_json(progress_file, {"plan": plan, "done": []})

    # Each sentence's rows are one contiguous block per layer file, so rows go to disk with positioned
    # writes (os.pwrite) at the sentence's offset: no memory map, no page faults, nothing held in RAM
    # beyond the current batch. Written data sits in the page cache as soon as pwrite returns, so it
    # survives the process being killed. No fsync of the arrays (it cost ~10% of throughput): after a
    # power loss, the checksums verified on every open detect a torn entry, which is then rebuilt.
    if options.device == "cuda":
        import copy

        from ..engine.device import check_device

        check_device("cuda")
        model = copy.deepcopy(model).to("cuda").eval()  # the caller's model stays where it is
    ctx = _ShardContext(
        model=model if getattr(engine, "name", "local") == "local" else PortableModel.of(model),
        partial=str(partial),
        layers=list(layers),
        dtype=options.dtype,
        row_bytes={l: widths[l] * np.dtype(options.dtype).itemsize for l in layers},
        data_offset={l: int(np.load(partial / _layer_file(l), mmap_mode="r").offset) for l in layers},
        pad_id=pad_id,
        site=site,
    )
    todo = [i for i in range(len(shards)) if i not in done]
    jobs = [
        [[(tok.input_ids[i], kept[i], int(offsets[i])) for i in batch] for batch in shards[shard_id]]
        for shard_id in todo
    ]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(b) for i in todo for b in shards[i]), desc="extract", unit="sent", leave=False)
    try:
        for j, n_sent in engine.imap_unordered(extract_shard, jobs, ctx):
            done.add(todo[j])
            atomic_write_json(progress_file, {"plan": plan, "done": sorted(done)})
            _fsync(progress_file)
            if bar is not None:
                bar.update(n_sent)
    finally:
        if bar is not None:
            bar.close()

    files = {}
    for name in [_layer_file(l) for l in layers] + ["tokens.parquet"]:
        f = partial / name
        files[name] = {"bytes": f.stat().st_size, "sha256": _sha256_file(f)}
    progress_file.unlink()

    manifest: dict[str, Any] = {
        "key": final.name,
        "format": FORMAT_VERSION,
        "model_key": model_key,
        "site": site,
        "options": options.model_dump(mode="json"),
        "layers": layers,
        "n_sentences": len(sentences),
        "n_tokens": n_tokens,
        "hidden_size": widths[layers[0]] if layers else int(model.config.hidden_size),
        "dtype": options.dtype,
        "files": files,
        "versions": versions(),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if site != RESIDUAL:
        names = [name for name, _ in site_modules(model, site)]
        offset = 0 if site.startswith(MODULE_PREFIX) else 1
        manifest["modules"] = [names[l - offset] for l in layers]
        manifest["widths"] = {str(l): widths[l] for l in layers}
    atomic_write_json(partial / "manifest.json", manifest)
    os.replace(partial, final)
    log.info("extracted %d tokens × %d layers in %.1fs -> %s", n_tokens, len(layers), time.perf_counter() - t0, final)


def _site_widths(
    model: torch.nn.Module,
    tokenizer: Any,
    sentences: Sequence[str],
    options: ExtractionSettings,
    site: str,
    layers: list[int],
) -> dict[int, int]:
    """Columns of each stored layer: the model's hidden size for the residual stream, else read from one
    forward pass over the first sentence (a module site's layers may differ in width, and a module whose
    output is not one vector per token fails here, before anything is written)."""
    if site == RESIDUAL:
        return {layer: int(model.config.hidden_size) for layer in layers}
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    probe = tokenize(tokenizer, list(sentences[:1]), options.max_length).input_ids or [[pad_id]]
    model.eval()
    got = forward_site(model, probe, pad_id, layers, site)
    return {layer: int(t.shape[-1]) for layer, t in zip(layers, got, strict=True)}


_BUILT: dict[str, torch.nn.Module] = {}


@dataclass(frozen=True)
class PortableModel:
    """A model sent to another process as class + config + weights (Hugging Face models hold
    unpicklable context variables); rebuilt once per process and reused for every shard."""

    cls: type
    config: Any
    state: dict[str, torch.Tensor]
    token: str

    @classmethod
    def of(cls, model: torch.nn.Module) -> PortableModel:
        import uuid

        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return cls(type(model), model.config, state, uuid.uuid4().hex)

    def build(self) -> torch.nn.Module:
        if self.token not in _BUILT:
            _BUILT.clear()  # one model per worker at a time
            model = self.cls(self.config)
            model.load_state_dict(self.state, strict=True)
            _BUILT[self.token] = model.eval()
        return _BUILT[self.token]


@dataclass(frozen=True)
class _ShardContext:
    """What every shard job needs (sent once per build to each worker)."""

    model: torch.nn.Module | PortableModel
    partial: str
    layers: list[int]
    dtype: str
    row_bytes: dict[int, int]
    data_offset: dict[int, int]
    pad_id: int
    site: str = RESIDUAL


def extract_shard(ctx: _ShardContext, batches: list[list[tuple[list[int], np.ndarray, int]]]) -> int:
    """Forward the shard's batches and write each sentence's kept rows at its offset in every layer
    file of the partial entry; returns the number of sentences. Runs in any process that sees the
    partial folder (the driver, or a Ray worker)."""
    model = ctx.model.build() if isinstance(ctx.model, PortableModel) else ctx.model.eval()
    out_dtype = torch.float16 if ctx.dtype == "float16" else torch.float32
    partial = Path(ctx.partial)
    fds = {l: os.open(partial / _layer_file(l), os.O_WRONLY) for l in ctx.layers}
    n = 0
    try:
        for batch in batches:
            ids = [ids for ids, _, _ in batch]
            if ctx.site == RESIDUAL:
                H = list(forward_batch(model, ids, ctx.pad_id, ctx.layers).to(out_dtype).numpy())
            else:
                H = [t.to(out_dtype).numpy() for t in forward_site(model, ids, ctx.pad_id, ctx.layers, ctx.site)]
            for li, layer in enumerate(ctx.layers):
                fd, base, row_bytes = fds[layer], ctx.data_offset[layer], ctx.row_bytes[layer]
                for j, (_, rows, offset) in enumerate(batch):
                    block = np.ascontiguousarray(H[li][j, rows])
                    os.pwrite(fd, block.data, base + offset * row_bytes)
            n += len(batch)
    finally:
        for fd in fds.values():
            os.close(fd)
    return n


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def word_vectors(
    store: ActivationStore, layer: int, how: Literal["first", "last", "mean"] = "last"
) -> tuple[np.ndarray, pd.DataFrame]:
    """Aggregate subword vectors into word vectors (special tokens excluded).

    Returns ``(vectors (n_words, hidden) float32, DataFrame[sentence_id, word_id, first_token_row,
    n_subwords])``; words are in store order.
    """
    if how not in ("first", "last", "mean"):
        from ..errors import BadInputError

        raise BadInputError(f"word aggregation {how!r} is not one of 'first', 'last', 'mean'.")
    t = store.tokens
    rows = np.flatnonzero((~t["is_special"].to_numpy()) & (t["word_id"].to_numpy() >= 0))
    sid = t["sentence_id"].to_numpy()[rows]
    wid = t["word_id"].to_numpy()[rows]
    new = np.ones(rows.size, dtype=bool)
    new[1:] = (sid[1:] != sid[:-1]) | (wid[1:] != wid[:-1])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], rows.size)
    X = store.layer(layer)
    if how == "first":
        vecs = np.asarray(X[rows[starts]], dtype=np.float32)
    elif how == "last":
        vecs = np.asarray(X[rows[ends - 1]], dtype=np.float32)
    else:
        vecs = np.add.reduceat(np.asarray(X[rows], dtype=np.float32), starts, axis=0)
        vecs /= (ends - starts)[:, None]
    index = pd.DataFrame(
        {"sentence_id": sid[starts], "word_id": wid[starts], "first_token_row": rows[starts], "n_subwords": ends - starts}
    )
    return vecs, index
