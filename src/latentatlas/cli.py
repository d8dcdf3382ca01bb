"""Command-line interface. Thin: parses options, calls the Python API, prints results.

Every :class:`~latentatlas.errors.LatentAtlasError` becomes a one-line message on stderr and exit code 2.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import EXIT_BAD_INPUT, BadInputError, LatentAtlasError

app = typer.Typer(
    name="latentatlas",
    help="Map the geometry of transformer latent spaces and relate it to downstream performance.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state = {"progress": True}


@app.callback()
def _global(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or info logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("httpx", "urllib3", "filelock", "matplotlib", "huggingface_hub", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _state["progress"] = not quiet
    if quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()


def _parse_param(text: str) -> tuple[str, str, Any]:
    name, eq, value = text.partition("=")
    measure, dot, key = name.partition(".")
    if not (eq and dot and measure and key):
        raise BadInputError(f"--param {text!r} must look like MEASURE.PARAM=VALUE, e.g. pq_pp.M=8.")
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return measure, key, parsed


@app.command("concepts")
def concepts_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="Pre-trained model spec.")] = "minilm",
    task: Annotated[str, typer.Option(help="Single-sentence classification task (see 'latentatlas tasks').")] = "bbc_topic",
    tuned: Annotated[str | None, typer.Option(help="Existing fine-tuned folder (default: fine-tune MODEL, cached).")] = None,
    finetune_epochs: Annotated[int, typer.Option(help="Fine-tuning epochs.")] = 1,
    max_train: Annotated[int, typer.Option(help="Training examples (fine-tuning, probes, analysed sentences).")] = 1000,
    n_sentences: Annotated[int, typer.Option(help="Training sentences analysed (seeded sample).")] = 1000,
    k: Annotated[int, typer.Option(help="Concepts per layer (Ward cut).")] = 600,
    layers: Annotated[str, typer.Option(help="'all', 'last', '0,3,-1' or '1:4'.")] = "all",
    labels: Annotated[
        Path | None, typer.Option(help="Label file: one line per analysed sentence, one label per word of words.txt.")
    ] = None,
    theta: Annotated[float, typer.Option(help="Purity threshold of label alignment.")] = 0.9,
    position: Annotated[str, typer.Option(help="Trigger insertion: prefix, suffix or random.")] = "prefix",
    seed: Annotated[int, typer.Option(help="Seed of every sample and draw.")] = 0,
    cache: Annotated[Path, typer.Option(help="Cache folder.")] = Path(".latentatlas-cache"),
    output: Annotated[Path, typer.Option(help="Output folder.")] = Path("latentatlas-concepts"),
    report: Annotated[
        Path | None, typer.Option(help="Study output folder whose report.html gets this section (e.g. latentatlas-out).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Latent concepts of a model before and after fine-tuning: alignment, labels, polarity, triggers."""
    from .concepts.run import ConceptSettings, run_concepts, write_concepts
    from .report.sections import report_page

    if report is not None:
        report_page(report)  # a wrong folder fails now, not after the analysis
    settings = ConceptSettings(
        model=model, task=task, tuned=tuned, finetune_epochs=finetune_epochs, max_train=max_train,
        n_sentences=n_sentences, k=k, layers=layers, labels_file=None if labels is None else str(labels),
        theta=theta, position=position, seed=seed,
    )
    result = run_concepts(settings, cache_dir=cache, progress=_state["progress"])
    files = write_concepts(result, output, report_dir=report)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, default=str))
        return
    s = result.polarity_summary
    for row in result.alignment.loc[result.alignment["measure"] == "ari"].itertuples():
        n_polar = s.loc[(s["layer"] == row.layer) & (s["model"] == "finetuned") & (s["source"] == "gold"), "n_polar_concepts"]
        typer.echo(f"layer {row.layer:>2}: ARI {row.value:.3f} (chance {row.chance:.3f}), "
                   f"polar concepts of the fine-tuned model {int(n_polar.sum())}")
    for name, path in files.items():
        typer.echo(f"  {name:<22} {path}")


@app.command("measures")
def list_measures(
    family: Annotated[str | None, typer.Option(help="Only this family (spread, quantization, ...).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the measure registry: name, family, direction, reference."""
    from .measures import registry as reg

    specs = [s for s in reg.all_measures().values() if family is None or s.family == family]
    if family is not None and not specs:
        from .errors import UnknownNameError

        raise UnknownNameError("measure family", family, {s.family for s in reg.all_measures().values()})
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "family": s.family,
                        "higher_means_spread": s.higher_means_spread,
                        "reference": s.reference,
                        "defaults": dict(s.defaults),
                        "summary": s.summary,
                    }
                    for s in specs
                ],
                indent=2,
                default=str,
            )
        )
        return
    width = max(len(s.name) for s in specs)
    for s in specs:
        direction = {True: "↑spread", False: "↓spread", None: "   –   "}[s.higher_means_spread]
        typer.echo(f"{s.name:<{width}}  {s.family:<12} {direction}  {s.summary}")


@app.command("tasks")
def list_tasks(
    suite: Annotated[str | None, typer.Option(help="Only this suite: glue or offline.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    baselines: Annotated[bool, typer.Option(
        "--baselines", help="Also compute the offline tasks' baselines at their default sizes (seed 0; "
        "bbc_pos runs spaCy).")] = False,
    results: Annotated[Path | None, typer.Option(
        help="A study output folder: show each task's baselines, best and worst model, seed spread and "
        "whether it enters the average score.")] = None,
    cache: Annotated[Path | None, typer.Option(help="Cache folder for bbc_pos's spaCy tags (--baselines).")] = None,
) -> None:
    """List the downstream task registry: name, suite, kind, official metric, labels (and baselines)."""
    from .downstream.tasks import TASKS, task_names

    infos = [TASKS[n].info for n in task_names(suite)]
    extra: dict[str, dict[str, Any]] = {i.name: {} for i in infos}
    if baselines:
        from .downstream.metrics import task_baselines
        from .downstream.tasks import load_task

        for i in infos:
            if i.suite == "offline":
                found = task_baselines(load_task(i.name, cache_dir=cache))
                extra[i.name].update({f"baseline_{k}": v["score"] for k, v in found.items()})
    if results is not None:
        from .downstream.learnability import results_summary

        for r in results_summary(results).to_dict("records"):
            if r["task"] in extra:
                extra[r["task"]].update({k: v for k, v in r.items() if k != "task"})
    if as_json:
        typer.echo(json.dumps([
            {"name": i.name, "suite": i.suite, "kind": i.kind, "metric": i.metric, "pair": i.pair,
             "labels": list(i.labels), "description": i.description, **extra[i.name]}
            for i in infos
        ], indent=2, default=float))
        return
    for i in infos:
        typer.echo(f"{i.name:<10} {i.suite:<8} {i.kind:<15} {i.metric:<17} {i.description}")
        e = extra[i.name]
        if any(k.startswith("baseline_") for k in e):
            typer.echo("           baselines: " + ", ".join(
                f"{k.removeprefix('baseline_')} {v:.3f}" for k, v in e.items() if k.startswith("baseline_")))
        if "best" in e:
            verdict = "averaged" if e["learnable"] else "LEFT OUT of the average"
            typer.echo(f"           best {e['best']:.3f} ({e['best_spec']}), worst {e['worst']:.3f} "
                       f"({e['worst_spec']}), seed SD {e['seed_sd']:.3f}, model SD {e['model_sd']:.3f}: {verdict}"
                       + (f"; {e['reason']}" if e["reason"] else ""))


@app.command("measure")
def measure_cloud(
    cloud: Annotated[Path, typer.Argument(help="A .npy file holding an (n_points, n_dims) array.")],
    measure: Annotated[
        list[str] | None, typer.Option("--measure", "-m", help="Measure name; repeat. Default: all.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for stochastic measures.")] = 0,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="MEASURE.PARAM=VALUE override; repeat.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object {measure: value}.")] = False,
) -> None:
    """Compute measures on a point cloud saved as .npy (dict-valued measures flattened as name.key)."""
    import numpy as np

    from .io import load_npy
    from .measures import registry as reg

    X = load_npy(cloud)
    params: dict[str, dict[str, Any]] = {}
    for p in param or []:
        name, key, value = _parse_param(p)
        params.setdefault(name, {})[key] = value
    names = measure or reg.names()
    stray = sorted(set(params) - set(names))
    if stray:
        raise BadInputError(f"--param given for measure(s) {stray} that are not being run.")
    results = reg.run_battery(
        np.asarray(X), names, seed=seed, params=params, progress=_state["progress"] and not as_json
    )
    flat = reg.flatten(results)
    if as_json:
        typer.echo(json.dumps(flat, indent=2))
    else:
        width = max(len(k) for k in flat)
        for k, v in flat.items():
            typer.echo(f"{k:<{width}}  {v:.6g}")


_ENGINE_HELP = "Where jobs run: local (this process) or ray (a Ray cluster; needs the ray extra)."
_ADDRESS_HELP = "Ray cluster address (with --engine ray); default: start a local Ray instance."
_DEVICE_HELP = "cpu, or cuda (autocast) for extraction and fine-tuning."


@contextlib.contextmanager
def _engine(name: str, address: str | None) -> Any:
    """The named engine, closed (a Ray instance started here shut down) when the command ends."""
    from .engine import get_engine

    eng = get_engine(name, address=address)
    try:
        yield eng
    finally:
        eng.close()


def _on_device(study: Any, device: str) -> Any:
    """``study`` with extraction and fine-tuning on ``device`` (unchanged for the CPU default)."""
    if device == "cpu":
        return study
    ds = study.downstream
    return study.model_copy(update={
        "extraction": study.extraction.model_copy(update={"device": device}),
        "downstream": ds.model_copy(update={"finetune": ds.finetune.model_copy(update={"device": device})}),
    })


@app.command("extract")
def extract(
    model: Annotated[list[str], typer.Option("--model", "-m", help="Model spec; repeat.")],
    corpus: Annotated[str, typer.Option(help="'bundled' or a .txt/.jsonl/.csv file.")] = "bundled",
    text_column: Annotated[str | None, typer.Option(help="Text column of a .csv/.jsonl corpus.")] = None,
    n_sentences: Annotated[int | None, typer.Option(help="Seeded sample size (default all).")] = 1000,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    layers: Annotated[str, typer.Option(help="'all', 'last', '0,3,-1' or '1:4'.")] = "all",
    cache: Annotated[Path, typer.Option(help="Cache folder.")] = Path(".latentatlas-cache"),
    drop_special: Annotated[bool, typer.Option(help="Drop [CLS]/[SEP] tokens.")] = False,
    dtype: Annotated[str, typer.Option(help="float16 or float32.")] = "float16",
    batch_size: Annotated[int, typer.Option(help="Sentences per forward pass.")] = 32,
    max_length: Annotated[int, typer.Option(help="Truncation length in tokens.")] = 128,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    engine: Annotated[str, typer.Option(help=_ENGINE_HELP)] = "local",
    address: Annotated[str | None, typer.Option(help=_ADDRESS_HELP)] = None,
    device: Annotated[str, typer.Option(help=_DEVICE_HELP)] = "cpu",
) -> None:
    """Extract token-level hidden states of every layer into the on-disk activation store."""
    from .engine.device import check_device
    from .extract.extractor import ExtractionSettings

    check_device(device)

    study = _study_from_options(
        cache, corpus, n_sentences, seed, text_column, layers,
        models=model,
        extraction=_validated(
            ExtractionSettings,
            batch_size=batch_size,
            max_length=max_length,
            keep_special_tokens=not drop_special,
            dtype=dtype,
            device=device,
        ),
    )
    from .runner import extract_study

    with _engine(engine, address) as eng:
        stores = extract_study(study, progress=_state["progress"], engine=eng)
    out = [
        {"model": spec, "store": str(s.path), "n_tokens": s.n_tokens, "layers": list(s.layers)}
        for spec, s in stores.items()
    ]
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    else:
        for o in out:
            typer.echo(f"{o['model']}: {o['n_tokens']} tokens, layers {o['layers']} -> {o['store']}")


@app.command("run")
def run(
    study_file: Annotated[Path | None, typer.Argument(help="Study YAML; default: the built-in preset.")] = None,
    preset: Annotated[str, typer.Option(help="Built-in study when no file is given: default, quick, full.")] = "default",
    output: Annotated[Path | None, typer.Option(help="Output folder (overrides the study's).")] = None,
    engine: Annotated[str, typer.Option(help=_ENGINE_HELP)] = "local",
    address: Annotated[str | None, typer.Option(help=_ADDRESS_HELP)] = None,
    device: Annotated[str, typer.Option(help=_DEVICE_HELP)] = "cpu",
) -> None:
    """Run a study: extract, measure every layer of every model, write results and report."""
    from .engine.device import check_device
    from .runner import run_study
    from .study import load_study

    check_device(device)
    study = _on_device(load_study(study_file, preset=preset), device)
    with _engine(engine, address) as eng:
        result = run_study(study, output=output, progress=_state["progress"], engine=eng)
    typer.echo(
        f"{len(result.results)} results for {result.results['spec'].nunique()} models in "
        f"{result.timings['total']:.1f} s"
    )
    for name, path in result.files.items():
        typer.echo(f"  {name:<16} {path}")


@app.command("compare")
def compare_cmd(
    a: Annotated[str, typer.Argument(help="Model spec, or a .npy cloud.")],
    b: Annotated[str, typer.Argument(help="Model spec, or a .npy cloud with the same rows as A.")],
    measure: Annotated[
        list[str] | None, typer.Option("--measure", "-m", help="cka, mutual_knn, svcca, pwcca, rsa, procrustes.")
    ] = None,
    corpus: Annotated[str, typer.Option(help="'bundled' or a .txt/.jsonl/.csv file (model specs).")] = "bundled",
    text_column: Annotated[str | None, typer.Option(help="Text column of a .csv/.jsonl corpus.")] = None,
    n_sentences: Annotated[int | None, typer.Option(help="Seeded sample size.")] = 500,
    layers: Annotated[str, typer.Option(help="'all', 'last', '0,3,-1' or '1:4'.")] = "all",
    max_points: Annotated[int | None, typer.Option(help="Seeded subsample of shared tokens.")] = 5000,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    cache: Annotated[Path, typer.Option(help="Cache folder.")] = Path(".latentatlas-cache"),
    output: Annotated[Path, typer.Option(help="Output folder.")] = Path("latentatlas-compare"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the matrices as JSON.")] = False,
) -> None:
    """Layer × layer similarity of two models (or two .npy clouds) over the same tokens."""
    from .compare import compare, write_comparison

    study = _study_from_options(cache, corpus, n_sentences, seed, text_column, layers)
    result = compare(a, b, measures=measure or ["cka"], study=study, max_points=max_points, seed=seed,
                     progress=_state["progress"])
    files = write_comparison(result, output)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        for name, path in files.items():
            typer.echo(f"  {name:<16} {path}")


@app.command("topology")
def topology_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="Model spec.")] = "minilm",
    layer: Annotated[int, typer.Option(help="Layer (0 = embeddings, -1 = last).")] = -1,
    k: Annotated[int, typer.Option(help="Neighbours per local neighbourhood.")] = 32,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds (article split and report).")] = "0,1,2",
    n_sentences: Annotated[int, typer.Option(help="Bundled sentences (seeded sample).")] = 1000,
    cache: Annotated[Path, typer.Option(help="Cache folder.")] = Path(".latentatlas-cache"),
    output: Annotated[Path, typer.Option(help="Output folder.")] = Path("latentatlas-topology"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """NER tagging on frozen LM vectors with and without local topology features (span F1 over seeds)."""
    from .tagging import TaggingSettings, run_tagging, write_tagging

    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise BadInputError(f"--seeds {seeds!r} must be comma-separated integers, e.g. 0,1,2.") from None
    settings = TaggingSettings(model=model, layer=layer, k=k, seeds=seed_list, n_sentences=n_sentences)
    result = run_tagging(settings, cache_dir=cache, progress=_state["progress"])
    files = write_tagging(result, output)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, default=str))
        return
    for row in result.summary.itertuples():
        typer.echo(f"{row.condition:<12} span F1 {row.f1_mean:.4f} ± {row.f1_std:.4f} ({row.n_seeds} seeds)")
    for name, path in files.items():
        typer.echo(f"  {name:<20} {path}")


@app.command("anchor")
def anchor_cmd(
    model: Annotated[list[str], typer.Option("--model", "-m", help="Model folder with an LM head; repeat.")],
    ks: Annotated[str, typer.Option(help="Comma-separated bulk sizes k (top-k words left out).")] = "0,10,100,1000",
    n_sentences: Annotated[int, typer.Option(help="Bundled sentences (seeded sample).")] = 3000,
    seed: Annotated[int, typer.Option(help="Seed of the sentence sample, masked positions and split.")] = 0,
    output: Annotated[Path, typer.Option(help="Output folder.")] = Path("latentatlas-anchor"),
    report: Annotated[
        Path | None, typer.Option(help="Study output folder whose report.html gets this section (e.g. latentatlas-out).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Anchor vector (Wu, Lee & Ge 2023): how well v0·f(x) predicts the bulk log partition function."""
    from .anchor import AnchorSettings, run_anchor, write_anchor
    from .report.sections import report_page

    if report is not None:
        report_page(report)  # a wrong folder fails now, not after the analysis
    try:
        k_list = tuple(int(k) for k in ks.split(",") if k.strip())
    except ValueError:
        raise BadInputError(f"--ks {ks!r} must be comma-separated integers, e.g. 0,10,100,1000.") from None
    settings = AnchorSettings(models=tuple(model), ks=k_list, n_sentences=n_sentences, seed=seed)
    result = run_anchor(settings)
    files = write_anchor(result, output, report_dir=report)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, default=str))
        return
    for row in result.table.itertuples():
        c = "with c" if row.intercept else "no c  "
        typer.echo(f"{row.model:<28.28} k={row.k:<5} {c} R2 {row.r2:9.4f}  cos(v0, mean f) {row.cos_v0_mean_f:7.3f}")
    for name, path in files.items():
        typer.echo(f"  {name:<16} {path}")


@app.command("pretrain")
def pretrain_cmd(
    objective: Annotated[str, typer.Option(help="mlm, mlm_shuffle_sentence, mlm_shuffle_corpus, first_char, random.")] = "mlm",
    output: Annotated[Path, typer.Option(help="Model folder to write (resumes from its checkpoint).")] = Path("latentatlas-pretrain"),
    steps: Annotated[int, typer.Option(help="Optimiser steps of 32 x 64 tokens (3000: about 10 min on 2 idle cores).")] = 3000,
    hidden_size: Annotated[int, typer.Option(help="Hidden size.")] = 128,
    num_layers: Annotated[int, typer.Option(help="Transformer layers.")] = 2,
    num_heads: Annotated[int, typer.Option(help="Attention heads.")] = 2,
    intermediate_size: Annotated[int, typer.Option(help="Feed-forward size.")] = 512,
    seq_len: Annotated[int, typer.Option(help="Tokens per training block.")] = 64,
    batch_size: Annotated[int, typer.Option(help="Blocks per step.")] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate (linear warm-up and decay).")] = 5e-4,
    n_sentences: Annotated[int | None, typer.Option(help="Bundled sentences (default: all).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, batches, masking and shuffles.")] = 0,
) -> None:
    """Pre-train a small BERT masked LM on the bundled BBC corpus with one objective (checkpointed, resumable)."""
    from .pretrain import PretrainSettings, pretrain

    settings = PretrainSettings(
        objective=objective, steps=steps, hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
        intermediate_size=intermediate_size, seq_len=seq_len, batch_size=batch_size, lr=lr,
        n_sentences=n_sentences, seed=seed,
    )
    summary = pretrain(settings, output)
    typer.echo(
        f"{objective}: {summary['tokens']} tokens at {summary['tokens_per_second']:.0f} tokens/s, "
        f"held-out loss {summary['final_heldout_loss']:.3f}; model folder {output}"
    )


@app.command("predict")
def predict_cmd(
    table: Annotated[Path, typer.Argument(help="A .csv, .tsv or .parquet table, one row per model.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Column to predict (e.g. the GLUE average).")],
    predictor: Annotated[list[str], typer.Option("--predictor", "-p", help="Numeric predictor column; repeat.")],
    factor: Annotated[str | None, typer.Option(help="Categorical column added as a treatment-coded factor.")] = None,
    holdout_col: Annotated[
        str | None, typer.Option(help="Column whose truthy values (1/true/yes/holdout) mark held-out rows.")
    ] = None,
    id_col: Annotated[str | None, typer.Option(help="Column naming rows (default: spec, model or row number).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
) -> None:
    """Fit target ~ predictor (+ factor) by OLS, with leave-one-out error and held-out predictions."""
    from .analysis import analyse, read_table
    from .analysis.summary import format_analysis

    result = analyse(
        read_table(table), target, predictor, factor=factor, holdout=holdout_col, id_col=id_col
    )
    typer.echo(json.dumps(result, indent=2) if as_json else format_analysis(result))


def _study_from_options(
    cache: Path, corpus: str, n_sentences: int | None, seed: int, text_column: str | None, layers: str, **extra: Any
) -> Any:
    """A Study built from command-line options, validated with the same messages as a study file."""
    from .study import CorpusSpec, Study

    corpus_spec = _validated(CorpusSpec, source=corpus, n_sentences=n_sentences, seed=seed, text_column=text_column)
    return _validated(Study, cache=str(cache), corpus=corpus_spec, layers=layers, **extra)


def _validated(model: Any, **fields: Any) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BadInputError(f"invalid option: {problems}") from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``latentatlas`` console script; returns the exit code.

    Usage errors are reported by Typer itself (exit code 2); a LatentAtlasError becomes one line on
    stderr and exit code 2.
    """
    try:
        app(args=argv, prog_name="latentatlas")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except LatentAtlasError as exc:
        typer.echo(f"latentatlas: error: {exc}", err=True)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
