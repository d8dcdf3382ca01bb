"""Full fine-tuning of an encoder with a task head (classification, regression or token tagging).

Defaults follow Marbut et al.'s protocol (Hugging Face ``run_glue.py``): AdamW, learning rate 2e-5 with
linear decay and no warm-up, effective batch 32 (``per_device_batch_size`` × gradient accumulation),
3 epochs, max length 128, evaluation on the validation split. The head is initialised from ``seed``
and the training order is drawn from a generator seeded with ``seed``, so a run is reproducible.

Each run lives in ``<cache>/finetune/<key>/`` (key = model weights, task data, settings and seed). A
checkpoint (weights, optimiser, scheduler, generator state) is written atomically after every epoch, so
an interrupted run resumes at the last finished epoch; ``result.json`` marks a finished run, and a
``SHA256SUMS`` of every file, written last, seals it: a finished run is reused once its checksums match,
and a damaged one (or one finished without its seal) is logged and run again from the start. A read-only
cache serves the runs it holds intact and refuses to train new ones (one line saying what to pass).
The fine-tuned encoder is saved as a Hugging Face folder (``model/``), usable as a model spec, and the
whole task model, head included, as ``classifier/`` (loadable with ``AutoModelFor...Classification``):
what :mod:`latentatlas.analyses.concepts` attacks with its adversarial triggers.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BadInputError, CacheCorruptError
from ..io import (
    SUMS_FILE,
    apply_umask,
    atomic_write,
    atomic_write_json,
    content_key,
    entry_lock,
    load_checkpoint,
    read_only_error,
    seal,
    verify_seal,
    writable,
)
from ..settings import FinetuneSettings
from ..store.extractor import pad_batch
from .base import TaskData, TaskInfo
from .encode import EncodedSplit, encode_split, split_digest
from .probe import per_sentence, targets

log = logging.getLogger(__name__)

IGNORE = -100  # label of positions the token-classification loss skips


@dataclass
class FinetuneResult:
    """Validation metrics of one fine-tuning run, its throughput and where its model was saved."""

    metrics: dict[str, float]
    examples_per_s: float
    seconds: float
    model_dir: Path
    resumed_from_epoch: int
    #: the task model with its trained head; None for a run cached before heads were saved
    classifier_dir: Path | None = None


def head_model(encoder: torch.nn.Module, info: TaskInfo, seed: int) -> torch.nn.Module:
    """A task model (encoder + freshly initialised head) carrying ``encoder``'s weights."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    cfg = copy.deepcopy(encoder.config)
    cfg.num_labels = info.num_labels
    if info.kind == "regression":
        cfg.problem_type = "regression"
    else:
        cfg.problem_type = "single_label_classification" if info.kind == "classification" else None
        cfg.id2label = dict(enumerate(info.labels))
        cfg.label2id = {v: k for k, v in cfg.id2label.items()}
    auto = AutoModelForTokenClassification if info.kind == "tagging" else AutoModelForSequenceClassification
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = auto.from_config(cfg)
    missing, _unexpected = model.base_model.load_state_dict(encoder.state_dict(), strict=False)
    if missing:
        raise BadInputError(
            f"the encoder's weights do not fit a {auto.__name__} of its own config (missing {missing[:3]}...); "
            "fine-tuning needs a standard Hugging Face encoder."
        )
    return model


def _labels_for(info: TaskInfo, enc: EncodedSplit, idx: np.ndarray, y: Any) -> torch.Tensor:
    if info.kind == "regression":
        return torch.as_tensor(np.asarray(y)[idx], dtype=torch.float32)
    if info.kind == "classification":
        return torch.as_tensor(np.asarray(y)[idx], dtype=torch.long)
    T = max(len(enc.input_ids[i]) for i in idx)
    out = torch.full((len(idx), T), IGNORE, dtype=torch.long)
    for r, i in enumerate(idx):
        wt = enc.word_token[i]  # type: ignore[index]
        kept = wt >= 0
        out[r, torch.as_tensor(wt[kept])] = torch.as_tensor(np.asarray(y[i])[kept], dtype=torch.long)
    return out


def run_key(model_key: str, task: TaskData, settings: FinetuneSettings, seed: int) -> str:
    blob = {
        "model": model_key,
        "task": task.info.name,
        "train": split_digest(task.info, task.train),
        "validation": split_digest(task.info, task.validation),
        # device only when not the CPU, so CPU runs keep their keys (autocast changes the numbers)
        "settings": settings.model_dump(exclude={"eval_batch_size"} | ({"device"} if settings.device == "cpu" else set())),
        "seed": seed,
    }
    return content_key(blob)


def _optimizer(model: torch.nn.Module, s: FinetuneSettings, total_steps: int) -> tuple[Any, Any]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=s.learning_rate,
    )
    warmup = int(math.ceil(s.warmup_ratio * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


@contextmanager
def _on_device(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
    """The batch on the model's device; on CUDA, the forward pass runs under bfloat16 autocast."""
    device = next(model.parameters()).device
    if device.type != "cuda":
        yield batch
        return
    with torch.autocast("cuda", dtype=torch.bfloat16):
        yield {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def predict(model: torch.nn.Module, enc: EncodedSplit, info: TaskInfo, pad_id: int, batch_size: int) -> np.ndarray:
    """Validation predictions: class ids, real values, or one tag per word (flat, truncated words -1)."""
    from ..store.extractor import length_sorted_batches

    model.eval()
    n_rows = sum(len(w) for w in enc.word_token) if enc.word_token is not None else len(enc)
    out = np.full(n_rows, -1, dtype=np.float64 if info.kind == "regression" else np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(w) for w in enc.word_token])]) if enc.word_token else None
    with torch.inference_mode():
        for batch in length_sorted_batches(enc.lengths(), batch_size):
            inputs = pad_batch([enc.input_ids[i] for i in batch], pad_id, [enc.token_type_ids[i] for i in batch])
            with _on_device(model, inputs) as moved:
                logits = model(**moved).logits.float().cpu()
            for j, i in enumerate(batch):
                if offsets is not None:
                    wt = enc.word_token[i]  # type: ignore[index]
                    kept = wt >= 0
                    out[offsets[i] + np.flatnonzero(kept)] = logits[j, torch.as_tensor(wt[kept])].argmax(-1).numpy()
                elif info.kind == "regression":
                    out[i] = float(logits[j, 0])
                else:
                    out[i] = int(logits[j].argmax())
    return out


def finetune(
    encoder: torch.nn.Module,
    tokenizer: Any,
    task: TaskData,
    *,
    model_key: str,
    cache_dir: Path | str,
    seed: int = 0,
    settings: FinetuneSettings | None = None,
    progress: bool = False,
) -> FinetuneResult:
    """Fine-tune ``encoder`` on ``task`` (resuming or reusing a cached run) and evaluate on validation."""
    from .metrics import evaluate

    s = settings or FinetuneSettings()
    run_dir = Path(cache_dir) / "finetune" / run_key(model_key, task, s, seed)
    done, damage = _finished(run_dir)
    if done is not None:
        return done
    if damage:
        log.warning("fine-tuning run %s is damaged (%s); running it again", run_dir, damage)
    what = f"lacks the fine-tuning run of {task.info.name!r} (seed {seed}) for this model"
    if not writable(run_dir.parent):
        raise read_only_error(cache_dir, what)
    run_dir.mkdir(parents=True, exist_ok=True)
    with entry_lock(str(run_dir) + ".lock", cache_dir, what):
        done, damage_now = _finished(run_dir, locked=True)  # another process may have finished it meanwhile
        if done is not None:
            return done
        if damage_now:  # finished but damaged (or never sealed): start over
            if not damage:
                log.warning("fine-tuning run %s is damaged (%s); running it again", run_dir, damage_now)
            for path in sorted(run_dir.iterdir()):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        return _train(encoder, tokenizer, task, run_dir, s, seed, progress, evaluate)


def _finished(run_dir: Path, locked: bool = False) -> tuple[FinetuneResult | None, str]:
    """``(result, "")`` for a finished run whose files match their checksums, ``(None, why)`` for a
    damaged one, ``(None, "")`` for none. Without the run's lock, a ``result.json`` without its
    ``SHA256SUMS`` may be a run sealing itself right now: ``(None, "")``, to be looked at under the lock."""
    done = run_dir / "result.json"
    if not done.is_file() or (not locked and not (run_dir / SUMS_FILE).exists()):
        return None, ""
    try:
        verify_seal(run_dir)
        r = json.loads(done.read_text())
        result = FinetuneResult(r["metrics"], r["examples_per_s"], r["seconds"], run_dir / "model",
                                r["resumed_from_epoch"], None)
    except (CacheCorruptError, ValueError, KeyError, TypeError) as exc:
        return None, str(exc)
    head = run_dir / "classifier"
    result.classifier_dir = head if (head / "config.json").is_file() else None
    return result, ""


def finished_run(
    task: TaskData, *, model_key: str, cache_dir: Path | str, seed: int = 0, settings: FinetuneSettings | None = None
) -> FinetuneResult | None:
    """The result of a finished, intact cached fine-tuning run of these inputs, or None: no model needed."""
    run_dir = Path(cache_dir) / "finetune" / run_key(model_key, task, settings or FinetuneSettings(), seed)
    return _finished(run_dir)[0]


def _train(
    encoder: torch.nn.Module,
    tokenizer: Any,
    task: TaskData,
    run_dir: Path,
    s: FinetuneSettings,
    seed: int,
    progress: bool,
    evaluate: Any,
) -> FinetuneResult:
    info = task.info
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    enc_train = encode_split(tokenizer, task.train, info, max_length=s.max_length)
    enc_val = encode_split(tokenizer, task.validation, info, max_length=s.max_length)
    y_train: Any = list(task.train.tags) if info.kind == "tagging" else task.train.labels  # type: ignore[arg-type]
    n = len(enc_train)
    if n < s.per_device_batch_size:
        raise BadInputError(
            f"task {info.name!r} has {n} training examples, fewer than one batch of {s.per_device_batch_size}; "
            "use more training data (max_train) or a smaller per_device_batch_size."
        )
    steps_per_epoch = math.ceil(n / s.batch_size)
    if s.device == "cuda":
        from ..engine.device import check_device

        check_device("cuda")
    model = head_model(encoder, info, seed).to(s.device)
    opt, sched = _optimizer(model, s, steps_per_epoch * s.epochs)
    gen = torch.Generator().manual_seed(int(seed))
    start_epoch = 0
    torch_rng: torch.Tensor | None = None
    ckpt = run_dir / "checkpoint.pt"
    if ckpt.is_file():
        try:
            state = load_checkpoint(ckpt, map_location=s.device)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            gen.set_state(state["generator"].cpu())
            torch_rng = state["torch_rng"]
            start_epoch = int(state["epoch"])
            log.info("resuming fine-tuning %s at epoch %d", run_dir.name[:12], start_epoch + 1)
        except BadInputError:
            raise  # a file the safe loader refused is not ours: say so rather than overwrite it silently
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            log.warning("fine-tuning checkpoint %s is unusable (%s); starting over", ckpt, exc)
            model = head_model(encoder, info, seed).to(s.device)
            opt, sched = _optimizer(model, s, steps_per_epoch * s.epochs)
            gen = torch.Generator().manual_seed(int(seed))
            torch_rng, start_epoch = None, 0

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=(s.epochs - start_epoch) * n, desc=f"fine-tune {info.name} seed {seed}", unit="ex", leave=False)
    t0 = time.perf_counter()
    seen = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))  # dropout masks
        if torch_rng is not None:
            torch.set_rng_state(torch_rng.cpu())  # a resumed run draws the same masks as an uninterrupted one
        for epoch in range(start_epoch, s.epochs):
            model.train()
            order = torch.randperm(n, generator=gen).numpy()
            for step_start in range(0, n, s.batch_size):
                step_idx = order[step_start : step_start + s.batch_size]
                opt.zero_grad(set_to_none=True)
                for mb_start in range(0, step_idx.size, s.per_device_batch_size):
                    idx = step_idx[mb_start : mb_start + s.per_device_batch_size]
                    batch = pad_batch(
                        [enc_train.input_ids[i] for i in idx], pad_id, [enc_train.token_type_ids[i] for i in idx]
                    )
                    batch["labels"] = _labels_for(info, enc_train, idx, y_train)
                    with _on_device(model, batch) as moved:
                        out = model(**moved)
                    (out.loss.float() * idx.size / step_idx.size).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), s.max_grad_norm)
                opt.step()
                sched.step()
                seen += step_idx.size
                if bar is not None:
                    bar.update(step_idx.size)
            state = {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "epoch": epoch + 1,
            }
            atomic_write(ckpt, lambda p, state=state: torch.save(state, p))
    train_s = time.perf_counter() - t0
    if bar is not None:
        bar.close()

    flat = predict(model, enc_val, info, pad_id, s.eval_batch_size)
    y_val = targets(info, task.validation)
    if info.kind == "tagging" and (flat < 0).any():
        flat[flat < 0] = int(np.bincount(np.concatenate([np.asarray(t) for t in y_train])).argmax())
    metrics = evaluate(info, per_sentence(info, task.validation, y_val), per_sentence(info, task.validation, flat))
    model_dir = run_dir / "model"
    model.base_model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    classifier_dir = run_dir / "classifier"
    model.save_pretrained(classifier_dir)
    tokenizer.save_pretrained(classifier_dir)
    result = FinetuneResult(
        metrics={k: float(v) for k, v in metrics.items()},
        examples_per_s=seen / train_s if train_s > 0 else float("nan"),
        seconds=train_s,
        model_dir=model_dir,
        resumed_from_epoch=start_epoch,
        classifier_dir=classifier_dir,
    )
    atomic_write_json(
        run_dir / "result.json",
        {
            "metrics": result.metrics,
            "examples_per_s": result.examples_per_s,
            "seconds": result.seconds,
            "resumed_from_epoch": start_epoch,
            "settings": s.model_dump(),
            "seed": seed,
            "task": info.name,
        },
    )
    ckpt.unlink(missing_ok=True)
    apply_umask(run_dir, "*.safetensors")  # safetensors writes its files 0600
    seal(run_dir)  # last: a run is finished once its files have their checksums
    log.info("fine-tuned %s seed %d: score %.4f (%.1f ex/s)", info.name, seed, result.metrics["score"], result.examples_per_s)
    return result
