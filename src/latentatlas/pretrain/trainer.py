"""Train a small BERT masked LM on the bundled BBC corpus (or a user corpus) with one objective;
checkpointed and resumable.

Everything random is a function of (seed, step): the batch of block indices
(``numpy.random.default_rng([seed, step])``), the corruption (a torch Generator seeded from seed and
step) and dropout (the global torch RNG reseeded inside ``fork_rng`` for every step). A run interrupted
after a checkpoint therefore continues to exactly the weights of an uninterrupted run.

Output folder: a Hugging Face ``BertForMaskedLM`` folder (config, weights with the LM head, the bundled
MiniLM tokenizer) that works as a model spec (``AutoModel.from_pretrained`` loads the encoder), plus
``training_curves.csv`` / ``.png``, ``pretrain.json`` (settings, tokens per second, final losses) and
``checkpoint/state.pt`` (model, optimiser, scheduler, step, curve; kept so a finished run is not redone).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..bundled import bundled_tokenizer
from ..errors import BadInputError
from ..io import (
    apply_umask,
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    load_checkpoint,
)
from ..report.figures import png
from ..settings import PretrainSettings
from .data import CORPUS_TRANSFORMS, pack_blocks
from .objectives import OBJECTIVES, corrupt

log = logging.getLogger(__name__)

CHECKPOINT = Path("checkpoint") / "state.pt"
#: Position table of every trained model (the tokenizer's limit too), so the folders take any input a
#: BERT takes; positions beyond seq_len are never trained and keep their initial values.
MAX_POSITIONS = 512


def build_model(s: PretrainSettings, tokenizer: Any) -> Any:
    from transformers import BertConfig, BertForMaskedLM

    cfg = BertConfig(
        vocab_size=len(tokenizer), hidden_size=s.hidden_size, num_hidden_layers=s.num_layers,
        num_attention_heads=s.num_heads, intermediate_size=s.intermediate_size,
        max_position_embeddings=MAX_POSITIONS, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(s.seed)
    return BertForMaskedLM(cfg)


def _schedule(s: PretrainSettings) -> Any:
    warm = max(1, int(s.warmup_fraction * s.steps))
    return lambda step: min((step + 1) / warm, max(0.0, (s.steps - step) / max(1, s.steps - warm)))


def _loss(model: Any, inputs: torch.Tensor, selected: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at the selected positions only (the head runs on those rows, not on the whole block)."""
    hidden = model.bert(input_ids=inputs).last_hidden_state
    logits = model.cls(hidden[selected])
    return torch.nn.functional.cross_entropy(logits, targets)


def _corpus_blocks(s: PretrainSettings, tokenizer: Any) -> torch.Tensor:
    from ..corpus import bundled_corpus, load_corpus_spec

    corpus = bundled_corpus(s.n_sentences, seed=s.seed) if s.corpus is None else load_corpus_spec(s.corpus)
    log.info("pre-training corpus: %d sentences of %s", len(corpus), corpus.source)
    text = CORPUS_TRANSFORMS[OBJECTIVES[s.objective].transform](corpus.sentences, s.seed)
    return pack_blocks(text, tokenizer, s.seq_len, min_blocks=s.batch_size + s.heldout_blocks)


def pretrain(
    settings: PretrainSettings, out_dir: str | Path, *, stop_after: int | None = None,
    blocks: torch.Tensor | None = None, snapshots: bool = False,
) -> dict[str, Any]:
    """Train (or resume) and write the model folder; returns the summary also saved as pretrain.json.

    ``stop_after`` ends the run after that many steps with a checkpoint (to test or split a long run);
    ``blocks`` overrides the bundled corpus with pre-packed token blocks (tests); ``snapshots`` also
    saves the model at step 0 and at every checkpoint as a model folder (:func:`snapshot_folder`).
    """
    s = settings
    objective = OBJECTIVES[s.objective]  # an unknown objective fails before any work
    out = Path(out_dir)
    tokenizer = bundled_tokenizer()
    if blocks is None:
        blocks = _corpus_blocks(s, tokenizer)
    elif blocks.shape[0] < s.batch_size + s.heldout_blocks:
        raise BadInputError(f"{blocks.shape[0]} blocks are fewer than batch_size + heldout_blocks; use more text.")
    targets_of = objective.targets(tokenizer)
    heldout, train = blocks[: s.heldout_blocks], blocks[s.heldout_blocks :]
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    vocab = len(tokenizer)

    model = build_model(s, tokenizer)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=s.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(s))
    step, curve, train_seconds = 0, [], 0.0
    ckpt = out / CHECKPOINT
    if ckpt.is_file():
        state = load_checkpoint(ckpt)
        if state["settings"] != s.identity():
            raise BadInputError(
                f"{out} holds a checkpoint of a run with different settings; pass another --output folder or the "
                "same settings to resume it."
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, curve, train_seconds = state["step"], state["curve"], state["train_seconds"]
        log.info("resuming %s at step %d of %d", out, step, s.steps)

    def heldout_loss() -> float:
        gen = torch.Generator().manual_seed(s.seed)
        model.eval()
        with torch.no_grad():
            inputs, selected = corrupt(heldout, special, vocab, tokenizer.mask_token_id, gen)
            loss = _loss(model, inputs, selected, targets_of(heldout, selected, gen))
        model.train()
        return float(loss)

    if snapshots and step == 0:
        _save_snapshot(out, 0, model, tokenizer)
    model.train()
    window: list[float] = []
    last = s.steps if stop_after is None else min(s.steps, step + stop_after)
    while step < last:
        t0 = time.perf_counter()
        idx = np.random.default_rng([s.seed, step]).choice(train.shape[0], s.batch_size, replace=False)
        batch = train[torch.as_tensor(idx)]
        gen = torch.Generator().manual_seed(s.seed * 1_000_003 + step)
        inputs, selected = corrupt(batch, special, vocab, tokenizer.mask_token_id, gen)
        targets = targets_of(batch, selected, gen)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s.seed * 7_919 + step)
            loss = _loss(model, inputs, selected, targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        step += 1
        train_seconds += time.perf_counter() - t0
        window.append(float(loss.detach()))
        if step % s.eval_every == 0 or step == s.steps:
            curve.append({"step": step, "train_loss": float(np.mean(window)), "heldout_loss": heldout_loss(),
                          "lr": float(sched.get_last_lr()[0]), "tokens": step * s.batch_size * s.seq_len,
                          "train_seconds": train_seconds})
            window = []
            log.info("%s step %d: train %.3f held-out %.3f", s.objective, step, curve[-1]["train_loss"], curve[-1]["heldout_loss"])
        if step % s.checkpoint_every == 0 or step == last:
            if snapshots and step % s.checkpoint_every == 0 and step < s.steps:
                _save_snapshot(out, step, model, tokenizer)  # before the checkpoint: a resumed run has it
            _save_checkpoint(ckpt, model, opt, sched, step, curve, train_seconds, s)
    if step < s.steps:
        return {"finished": False, "step": step}
    return _write_outputs(out, model, tokenizer, s, curve, train_seconds)


def snapshot_folder(run_dir: str | Path, step: int) -> Path:
    """The model folder of a run's snapshot at ``step``."""
    return Path(run_dir) / "snapshots" / f"step-{step:06d}"


def _save_snapshot(run_dir: Path, step: int, model: Any, tokenizer: Any) -> None:
    """The model as it is at ``step``, as a model folder written into place atomically."""
    import shutil
    import tempfile

    target = snapshot_folder(run_dir, step)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    was_training = model.training
    model.eval()
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        model.train(was_training)


def _save_checkpoint(path: Path, model: Any, opt: Any, sched: Any, step: int, curve: list, seconds: float, s: PretrainSettings) -> None:
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "step": step, "curve": curve, "train_seconds": seconds, "settings": s.identity()}
    atomic_write(path, lambda p: torch.save(state, p))


def curves_png(curve: list[dict[str, Any]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    steps = [r["step"] for r in curve]
    ax.plot(steps, [r["train_loss"] for r in curve], label="training (window mean)")
    ax.plot(steps, [r["heldout_loss"] for r in curve], label="held-out blocks")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_title(title, fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return png(fig)


def _write_outputs(out: Path, model: Any, tokenizer: Any, s: PretrainSettings, curve: list, seconds: float) -> dict[str, Any]:
    import pandas as pd

    tokens = s.steps * s.batch_size * s.seq_len
    summary = {
        "finished": True, "step": s.steps, "settings": s.model_dump(), "objective": OBJECTIVES[s.objective].summary,
        "tokens": tokens, "train_seconds": seconds, "tokens_per_second": tokens / seconds if seconds > 0 else math.nan,
        "final_train_loss": curve[-1]["train_loss"], "final_heldout_loss": curve[-1]["heldout_loss"],
        "n_parameters": int(sum(p.numel() for p in model.parameters())), "torch_threads": torch.get_num_threads(),
    }
    csv = pd.DataFrame(curve).to_csv(index=False)
    png = curves_png(curve, f"{s.objective}: {s.num_layers} layers, hidden {s.hidden_size}, {s.steps} steps")
    model.eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    apply_umask(out, "*.safetensors")  # safetensors writes its file 0600
    atomic_write_text(out / "training_curves.csv", csv)
    atomic_write(out / "training_curves.png", lambda p: p.write_bytes(png))
    atomic_write_json(out / "pretrain.json", summary)
    log.info("%s: %.0f tokens/s, held-out loss %.3f, saved to %s", s.objective, summary["tokens_per_second"],
             summary["final_heldout_loss"], out)
    return summary


def load_summary(out_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / "pretrain.json").read_text())
