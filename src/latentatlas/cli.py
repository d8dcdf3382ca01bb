"""Command-line interface. Thin: parses options, calls the Python API, prints results.

Every failure is one line on stderr: a :class:`~latentatlas.errors.LatentAtlasError` exits with its code
(2 for bad input, 1 for a machine that cannot do the work), a file-system error (full disk, no permission,
read-only folder) with 1 naming the path, anything else with 1 and a pointer to ``-v``, which prints the
traceback. Folders the command will write (``--output``, ``--cache``) are checked before any work.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperCommand, TyperGroup

try:  # typer ≥ 0.2x carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer on click
    from click import exceptions as click_errors

from . import logs
from ._version import __version__
from .errors import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, BadInputError, LatentAtlasError
from .io import CACHE_ENV, DEFAULT_CACHE
from .settings import describe

log = logging.getLogger(__name__)


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").split("\n\n", 1)[0].split())


class _Command(TyperCommand):
    """A command whose help reads well: ``Usage: latentatlas measure [OPTIONS] CLOUD.npy`` (not
    ``{cloud}``), and arguments listed by their placeholder. Options name theirs (``--model SPEC``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if p.param_type_name == "argument":
                name = p.metavar or (p.name or "ARG").upper()
                pieces.append(name if p.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        params = self.get_params(ctx)
        args = [(p.metavar or (p.name or "").upper(), getattr(p, "help", None) or "")
                for p in params if p.param_type_name == "argument"]
        opts = [rv for p in params if p.param_type_name == "option" and (rv := p.get_help_record(ctx))]
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class _Group(TyperGroup):
    """A group whose command list shows each command's whole first paragraph, never cut mid-sentence."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, _first_paragraph(cmd.help)) for name in self.list_commands(ctx)
                if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    name="latentatlas",
    help="Map the geometry of transformer latent spaces and relate it to downstream performance.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=_Group,
)
cache_app = typer.Typer(
    name="cache", help="List the cache folder's entries, or prune them by age or model.", no_args_is_help=True,
    add_completion=False, rich_markup_mode=None, cls=_Group,
)
app.add_typer(cache_app, name="cache")

_state: dict[str, Any] = {"progress": True, "cache": None, "verbose": False}


def _command(name: str, where: typer.Typer = app) -> Any:
    return where.command(name, cls=_Command)


def _configure(*, quiet: bool, verbose: bool) -> None:
    """Logging for this command (:func:`latentatlas.logs.configure`); progress bars only on a terminal,
    one log line per finished stage elsewhere."""
    _state["cache"] = None
    logs.configure(quiet=quiet, verbose=verbose)
    _state["progress"] = not quiet and logs.interactive()


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"latentatlas {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Warnings and errors only: no progress bars or info logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs, and the third-party output (Hugging Face load reports, download bars) that is otherwise silenced.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    del version
    _configure(quiet=quiet, verbose=verbose)
    _state["verbose"] = verbose


_CACHE_HELP = f"Cache folder (default: ${CACHE_ENV}, else {DEFAULT_CACHE})."
_N_SENTENCES_HELP = "Sentences in the seeded sample (all of them when the corpus has fewer)."


def _cache_option(help: str = _CACHE_HELP) -> Any:
    return typer.Option(envvar=CACHE_ENV, show_envvar=False, show_default=False, metavar="DIR", help=help)


def _json_option(help: str = "Print the result as JSON.") -> Any:
    return typer.Option("--json", help=help)


def _report_option() -> Any:
    return typer.Option(metavar="DIR", help="Study output folder whose report.html gets this section (e.g. latentatlas-out).")


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


def _int_list(flag: str, text: str, example: str) -> tuple[int, ...]:
    """The whole numbers of a comma-separated option (``0,10,100``); one line naming the flag when not."""
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise BadInputError(f"{flag} {text!r} must be comma-separated integers, e.g. {example}.") from None


def _check_report_dir(report: Path | None) -> None:
    """A study folder given with --report must hold a report page: a wrong folder fails now, not after the
    analysis."""
    if report is not None:
        from .report.sections import report_page

        report_page(report)


def _echo_json(result: Any) -> None:
    typer.echo(json.dumps(result.to_json(), indent=2, default=str))


def _echo_files(files: dict[str, Path], width: int) -> None:
    for name, path in files.items():
        typer.echo(f"  {name:<{width}} {path}")


@_command("concepts")
def concepts_cmd(
    model: Annotated[str, typer.Option("--model", "-m", metavar="SPEC", help="Pre-trained model spec.")] = "minilm",
    task: Annotated[str, typer.Option(metavar="NAME", help="Single-sentence classification task (see 'latentatlas tasks').")] = "bbc_topic",
    tuned: Annotated[str | None, typer.Option(metavar="DIR", help="Existing fine-tuned folder (default: fine-tune MODEL, cached).")] = None,
    finetune_epochs: Annotated[int, typer.Option(metavar="N", help="Fine-tuning epochs.")] = 1,
    max_train: Annotated[int, typer.Option(metavar="N", help="Training examples (fine-tuning and probes).")] = 1000,
    max_eval: Annotated[int, typer.Option(metavar="N", help="Validation examples (fine-tuning's evaluation, trigger inputs).")] = 500,
    n_sentences: Annotated[int, typer.Option(metavar="N", help="Sentences analysed (seeded sample, never fine-tuned on).")] = 1000,
    corpus: Annotated[
        str, typer.Option(metavar="SOURCE", help="'task' (the task's sentences, with gold classes), or 'bundled' or a .txt/.jsonl/.csv "
                               "file whose sentences are analysed instead (no gold classes: polarity and triggers use the "
                               "fine-tuned model's predictions).")
    ] = "task",
    text_column: Annotated[str | None, typer.Option(metavar="COLUMN", help="Text column of a .csv/.jsonl corpus.")] = None,
    split_sentences: Annotated[bool, typer.Option("--split-sentences", help=_SPLIT_HELP)] = False,
    encoding: Annotated[str, typer.Option(metavar="ENCODING", help=_ENCODING_HELP)] = "utf-8",
    analysis_split: Annotated[
        str, typer.Option(metavar="SPLIT", help="Analysed sentences: 'validation' (the task's validation split) or 'heldout' "
                               "(train sentences left out of fine-tuning).")
    ] = "validation",
    k: Annotated[
        int | None, typer.Option(metavar="N", help="Concepts per layer (Ward cut); default: the papers' ratio, 600 per 250,000 occurrences.")
    ] = None,
    k_sweep: Annotated[
        str | None, typer.Option(metavar="N,N,...", help="K values cut from the same trees, e.g. '10,50,600' (default: K/4 … 8K and 600).")
    ] = None,
    layers: Annotated[str, typer.Option(metavar="LAYERS", help="'all', 'last', '0,3,-1' or '1:4'.")] = "all",
    labels: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Label file: one line per analysed sentence, one label per word of words.txt.")
    ] = None,
    theta: Annotated[float, typer.Option(metavar="X", help="Purity threshold of label alignment.")] = 0.9,
    position: Annotated[str, typer.Option(metavar="prefix|suffix|random", help="Trigger insertion.")] = "prefix",
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of every sample and draw.")] = 0,
    cache: Annotated[Path, _cache_option()] = Path(DEFAULT_CACHE),
    output: Annotated[Path, typer.Option(metavar="DIR", help="Output folder.")] = Path("latentatlas-concepts"),
    report: Annotated[Path | None, _report_option()] = None,
    as_json: Annotated[bool, _json_option()] = False,
) -> None:
    """Latent concepts of a model before and after fine-tuning: alignment, labels, polarity, triggers."""
    from .analyses.concepts.run import run_concepts, write_concepts
    from .settings import ConceptSettings, CorpusSpec

    _check_report_dir(report)
    sweep = None if k_sweep is None else _int_list("--k-sweep", k_sweep, "10,50,600")
    if corpus == "task" and (text_column is not None or split_sentences):
        raise BadInputError("--text-column and --split-sentences read a corpus file; pass it with --corpus FILE.")
    if corpus == "task" and encoding != "utf-8":
        raise BadInputError("--encoding is the encoding of a corpus file; pass the file with --corpus FILE.")
    if corpus != "task" and analysis_split != "validation":
        raise BadInputError(f"--analysis-split {analysis_split} draws the analysed sentences from the task, --corpus "
                            "from a corpus: drop one of the two.")
    spec = None if corpus == "task" else CorpusSpec(**_corpus_options(corpus, n_sentences, seed, text_column,
                                                                      split_sentences, encoding))
    _check_folders(output=output, cache=cache)
    settings = ConceptSettings(
        model=model, task=task, tuned=tuned, finetune_epochs=finetune_epochs, max_train=max_train, max_eval=max_eval,
        n_sentences=n_sentences, analysis_split=analysis_split, corpus=spec, k=k, k_sweep=sweep, layers=layers,
        labels_file=None if labels is None else str(labels),
        theta=theta, position=position, seed=seed,
    )
    result = run_concepts(settings, cache_dir=cache, progress=_state["progress"])
    files = write_concepts(result, output, report_dir=report)
    if as_json:
        _echo_json(result)
        return
    s, a = result.polarity_summary, result.alignment
    source = "gold" if settings.corpus is None else "predicted"
    for row in a.loc[a["measure"] == "ami"].itertuples():
        n_polar = s.loc[(s["layer"] == row.layer) & (s["model"] == "finetuned") & (s["source"] == source), "n_polar_concepts"]
        typed = a.loc[(a["layer"] == row.layer) & (a["measure"] == "type_a_to_b") & ((a["theta"] - settings.theta).abs() < 1e-9)]
        typer.echo(f"layer {row.layer:>2}: AMI {row.value:.3f} (chance {row.chance:.3f}), type-level A→B excess "
                   f"{float(typed['excess'].sum()):+.3f}, polar concepts of the fine-tuned model {int(n_polar.sum())}"
                   + ("" if source == "gold" else " (predicted classes)"))
    _echo_files(files, 22)


@_command("measures")
def list_measures(
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="Show one measure in full: formula, reference, direction, minimum points, parameters.")] = None,
    family: Annotated[str | None, typer.Option(metavar="FAMILY", help="Only this family (spread, quantization, dimension, similarity).")] = None,
    as_json: Annotated[bool, _json_option("Print JSON.")] = False,
) -> None:
    """List the measure registry (name, family, direction, what it computes), or show one measure in full."""
    from .measures import registry as reg

    if name is not None:
        spec = reg.get(name)
        typer.echo(json.dumps(_measure_json(spec, full=True), indent=2, default=str) if as_json
                   else _measure_detail(spec))
        return
    specs = [s for s in reg.all_measures().values() if family is None or s.family == family]
    if family is not None and not specs:
        from .errors import UnknownNameError

        raise UnknownNameError("measure family", family, {s.family for s in reg.all_measures().values()})
    if as_json:
        typer.echo(json.dumps([_measure_json(s) for s in specs], indent=2, default=str))
        return
    width = max(len(s.name) for s in specs)
    for s in specs:
        source = "" if s.source == "latentatlas" else f" [{s.source}]"
        typer.echo(f"{s.name:<{width}}  {s.family:<12} {_DIRECTION[s.higher_means_spread]}  {s.summary}{source}")


_DIRECTION = {True: "↑spread", False: "↓spread", None: "   –   "}
_DIRECTION_WORDS = {True: "higher values mean a more spread (isotropic) cloud",
                    False: "higher values mean a less spread (more anisotropic) cloud",
                    None: "not a spread measure (no direction)"}


def _measure_json(spec: Any, *, full: bool = False) -> dict[str, Any]:
    out = {"name": spec.name, "family": spec.family, "source": spec.source,
           "higher_means_spread": spec.higher_means_spread, "reference": spec.reference,
           "defaults": dict(spec.defaults), "summary": spec.summary}
    if full:
        out.update({
            "formula": spec.doc, "min_points": spec.required_points(), "stochastic": spec.stochastic,
            "streamable": spec.streamable,
            "params": {k: {"default": spec.defaults[k], "allowed": p.describe()} for k, p in spec.params.items()},
        })
    return out


def _measure_detail(spec: Any) -> str:
    """Everything about one measure, for `latentatlas measures NAME`."""
    import textwrap

    min_pts = f"{spec.required_points()}" + (" (with the defaults; it depends on the parameters)"
                                            if callable(spec.min_points) else "")
    lines = [f"{spec.name}: {spec.family} measure ({spec.source})", "",
             textwrap.indent(spec.doc or spec.summary, "  "), "",
             f"reference:   {spec.reference}",
             f"direction:   {_DIRECTION_WORDS[spec.higher_means_spread]}",
             f"min points:  {min_pts}",
             f"seeded:      {'yes (--seed)' if spec.stochastic else 'no (deterministic)'}",
             f"streamable:  {'yes' if spec.streamable else 'no'}"]
    if spec.params:
        width = max(len(k) for k in spec.params)
        lines.append("parameters (set with -p " + spec.name + ".NAME=VALUE, or params: in a study):")
        for k, p in spec.params.items():
            lines.append(f"  {k:<{width}}  default {json.dumps(spec.defaults[k], default=str):<8} {p.describe()}")
    else:
        lines.append("parameters:  none")
    return "\n".join(lines)


@_command("tasks")
def list_tasks(
    suite: Annotated[str | None, typer.Option(metavar="glue|offline", help="Only this suite.")] = None,
    as_json: Annotated[bool, _json_option("Print JSON.")] = False,
    baselines: Annotated[bool, typer.Option(
        "--baselines", help="Also compute the offline tasks' baselines at their default sizes (seed 0; "
        "bbc_pos runs spaCy).")] = False,
    results: Annotated[Path | None, typer.Option(metavar="DIR",
        help="A study output folder: show each task's baselines, best and worst model, seed spread and "
        "whether it enters the average score.")] = None,
    cache: Annotated[Path | None, typer.Option(metavar="DIR", help="Cache folder for bbc_pos's spaCy tags (--baselines).")] = None,
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


@_command("measure")
def measure_cloud(
    cloud: Annotated[Path, typer.Argument(metavar="CLOUD.npy", help="A .npy file holding an (n_points, n_dims) array.")],
    measure: Annotated[
        list[str] | None, typer.Option("--measure", "-m", metavar="NAME", help="Measure name; repeat. Default: all.")
    ] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed for stochastic measures.")] = 0,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", metavar="MEASURE.PARAM=VALUE",
                                       help="Parameter override, checked before any work (see `latentatlas measures NAME`); repeat.")
    ] = None,
    max_points: Annotated[
        int | None, typer.Option(metavar="N", help="Measure a seeded subsample (--seed) of this many points.")
    ] = None,
    max_memory: Annotated[
        float | None, typer.Option(metavar="GB", help="GB the measures that cannot stream may use (default: half the free memory).")
    ] = None,
    as_json: Annotated[bool, _json_option("Print a JSON object {measure: value}.")] = False,
) -> None:
    """Compute measures on a point cloud saved as .npy, memory-mapped: the measures that stream read it in
    chunks; the others need it in memory (see --max-points)."""
    from .measures import registry as reg
    from .measures.stream import measure_file

    params: dict[str, dict[str, Any]] = {}
    for p in param or []:
        name, key, value = _parse_param(p)
        params.setdefault(name, {})[key] = value
    names = measure or reg.names()
    stray = sorted(set(params) - set(names))
    if stray:
        raise BadInputError(f"--param given for measure(s) {stray} that are not being run.")
    results = measure_file(
        cloud, names, seed=seed, params=params, max_points=max_points,
        max_memory=None if max_memory is None else max_memory * 1e9, progress=_state["progress"] and not as_json,
    )
    flat = reg.flatten(results)
    if as_json:
        typer.echo(json.dumps(flat, indent=2))
    else:
        width = max(len(k) for k in flat)
        for k, v in flat.items():
            typer.echo(f"{k:<{width}}  {v:.6g}")


_ENGINE_HELP = "Where jobs run: local (this process) or ray (a Ray cluster; needs the ray extra)."
_ENGINE = {"metavar": "local|ray", "help": _ENGINE_HELP}
_ADDRESS_HELP = "Ray cluster address (with --engine ray); default: start a local Ray instance."
_DEVICE_HELP = "cpu, or cuda (autocast) for extraction and fine-tuning."
_CORPUS_HELP = "'bundled' or a .txt/.jsonl/.csv file (one sentence, or with --split-sentences one paragraph, per line/row)."
_SPLIT_HELP = ("The file's lines/rows are paragraphs: split them into sentences (spaCy's sentencizer with the nlp "
               "extra, else the built-in splitter) before the length filter and the seeded sample.")
_SITE_HELP = ("Where vectors are read: residual (default; the hidden states), attention or mlp (each block's "
              "sub-layer output before the residual add), or module:PATTERN (every module whose name matches "
              "the glob, e.g. module:encoder.layer.*.intermediate); repeat.")
_ENCODING_HELP = "Text encoding of the corpus file (e.g. latin-1, cp1252, utf-16); it is decoded strictly."


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


@_command("extract")
def extract(
    model: Annotated[list[str], typer.Option("--model", "-m", metavar="SPEC", help="Model spec; repeat.")],
    corpus: Annotated[str, typer.Option(metavar="SOURCE", help=_CORPUS_HELP)] = "bundled",
    text_column: Annotated[str | None, typer.Option(metavar="COLUMN", help="Text column of a .csv/.jsonl corpus.")] = None,
    split_sentences: Annotated[bool, typer.Option("--split-sentences", help=_SPLIT_HELP)] = False,
    encoding: Annotated[str, typer.Option(metavar="ENCODING", help=_ENCODING_HELP)] = "utf-8",
    n_sentences: Annotated[int, typer.Option(metavar="N", help=_N_SENTENCES_HELP)] = 1000,
    seed: Annotated[int, typer.Option(metavar="N", help="Sampling seed.")] = 0,
    layers: Annotated[str, typer.Option(metavar="LAYERS", help="'all', 'last', '0,3,-1' or '1:4'.")] = "all",
    site: Annotated[
        list[str] | None,
        typer.Option("--site", metavar="SITE", help=_SITE_HELP),
    ] = None,
    cache: Annotated[Path, _cache_option()] = Path(DEFAULT_CACHE),
    drop_special: Annotated[bool, typer.Option(help="Drop [CLS]/[SEP] tokens.")] = False,
    dtype: Annotated[str, typer.Option(metavar="float16|float32", help="Stored precision.")] = "float16",
    batch_size: Annotated[int, typer.Option(metavar="N", help="Sentences per forward pass.")] = 32,
    max_length: Annotated[int, typer.Option(metavar="N", help="Truncation length in tokens.")] = 128,
    as_json: Annotated[bool, _json_option("Print JSON.")] = False,
    engine: Annotated[str, typer.Option(**_ENGINE)] = "local",
    address: Annotated[str | None, typer.Option(metavar="HOST:PORT", help=_ADDRESS_HELP)] = None,
    device: Annotated[str, typer.Option(metavar="cpu|cuda", help=_DEVICE_HELP)] = "cpu",
) -> None:
    """Extract token-level vectors of every layer (at every --site) into the on-disk activation store."""
    from .engine.device import check_device
    from .pipeline import extract_study

    check_device(device)
    study = _study_from_options(
        cache, corpus, n_sentences, seed, text_column, layers, split_sentences=split_sentences, encoding=encoding,
        models=model,
        sites=site or ["residual"],
        extraction={"batch_size": batch_size, "max_length": max_length, "keep_special_tokens": not drop_special,
                    "dtype": dtype, "device": device},
    )
    _check_folders(cache=cache)

    with _engine(engine, address) as eng:
        stores = extract_study(study, progress=_state["progress"], engine=eng)
    out = [
        {"model": spec, "site": site, "store": str(s.path), "n_tokens": s.n_tokens, "layers": list(s.layers),
         "modules": s.modules}
        for (spec, site), s in stores.items()
    ]
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    else:
        for o in out:
            typer.echo(f"{o['model']} [{o['site']}]: {o['n_tokens']} tokens, layers {o['layers']} -> {o['store']}")


@_command("run")
def run(
    study_file: Annotated[Path | None, typer.Argument(metavar="STUDY.yaml", help="Study file; default: the built-in preset.")] = None,
    preset: Annotated[str, typer.Option(metavar="default|quick|full", help="Built-in study when no file is given.")] = "default",
    output: Annotated[Path | None, typer.Option(metavar="DIR", help="Output folder (overrides the study's).")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", metavar="SPEC", help="Run these models instead of the study's; repeat.")] = None,
    corpus: Annotated[str | None, typer.Option(metavar="SOURCE", help="Corpus instead of the study's: 'bundled' or a .txt/.jsonl/.csv file.")] = None,
    measure: Annotated[list[str] | None, typer.Option("--measure", metavar="NAME", help="Run these measures instead of the study's; repeat.")] = None,
    layers: Annotated[str | None, typer.Option(metavar="LAYERS", help="Layers instead of the study's: 'all', 'last', '0,3,-1' or '1:4'.")] = None,
    n_sentences: Annotated[int | None, typer.Option(metavar="N", min=1, help="Sentences in the seeded corpus sample, instead of the study's.", show_default=False)] = None,
    encoding: Annotated[str | None, typer.Option(metavar="ENCODING", help=_ENCODING_HELP + " Instead of the study's.", show_default=False)] = None,
    site: Annotated[list[str] | None, typer.Option("--site", metavar="SITE", help="Activation sites instead of the study's: residual, attention, mlp or module:PATTERN; repeat.")] = None,
    engine: Annotated[str, typer.Option(**_ENGINE)] = "local",
    address: Annotated[str | None, typer.Option(metavar="HOST:PORT", help=_ADDRESS_HELP)] = None,
    device: Annotated[str, typer.Option(metavar="cpu|cuda", help=_DEVICE_HELP)] = "cpu",
) -> None:
    """Run a study: extract, measure every layer of every model, write results and report.

    The study is a YAML file or a preset; --model, --corpus, --measure, --layers, --n-sentences, --encoding
    and --site replace its fields for this run (checked like the file, before any work).
    """
    from .api import Study
    from .engine.device import check_device
    from .pipeline import load_study, run_study

    check_device(device)
    study = Study(load_study(study_file, preset=preset)).override(
        models=model, corpus=corpus, measures=measure, layers=layers, n_sentences=n_sentences, sites=site,
        encoding=encoding)
    settings = _on_device(study.settings, device)
    from .io import check_writable_dir

    check_writable_dir(output if output is not None else settings.output,
                       "--output folder" if output is not None else "output folder (the study's output:)")
    check_writable_dir(settings.cache, "cache folder (the study's cache:)", read_only_ok=True)
    with _engine(engine, address) as eng:
        result = run_study(settings, output=output, progress=_state["progress"], engine=eng)
    typer.echo(
        f"{len(result.results)} results for {result.results['spec'].nunique()} models in "
        f"{result.timings['total']:.1f} s"
    )
    folders: dict[str, int] = {}
    for name, path in result.files.items():
        if "/" in name:  # figures/<name>.svg|pdf|csv: one line for the folder
            top = name.split("/", 1)[0]
            if top not in folders:
                folders[top] = sum(1 for n in result.files if n.startswith(top + "/"))
                typer.echo(f"  {top + '/':<16} {result.output_dir / top} ({folders[top]} files)")
            continue
        typer.echo(f"  {name:<16} {path}")


@_command("compare")
def compare_cmd(
    a: Annotated[str, typer.Argument(metavar="A", help="Model spec, or a .npy cloud.")],
    b: Annotated[str, typer.Argument(metavar="B", help="Model spec, or a .npy cloud with the same rows as A.")],
    measure: Annotated[
        list[str] | None, typer.Option("--measure", "-m", metavar="NAME", help="cka, mutual_knn, svcca, pwcca, rsa, procrustes; repeat.")
    ] = None,
    corpus: Annotated[str, typer.Option(metavar="SOURCE", help=_CORPUS_HELP)] = "bundled",
    text_column: Annotated[str | None, typer.Option(metavar="COLUMN", help="Text column of a .csv/.jsonl corpus.")] = None,
    split_sentences: Annotated[bool, typer.Option("--split-sentences", help=_SPLIT_HELP)] = False,
    encoding: Annotated[str, typer.Option(metavar="ENCODING", help=_ENCODING_HELP)] = "utf-8",
    n_sentences: Annotated[int, typer.Option(metavar="N", help=_N_SENTENCES_HELP)] = 500,
    layers: Annotated[str, typer.Option(metavar="LAYERS", help="'all', 'last', '0,3,-1' or '1:4'.")] = "all",
    max_points: Annotated[int, typer.Option(metavar="N", help="Seeded subsample of shared tokens.")] = 5000,
    seed: Annotated[int, typer.Option(metavar="N", help="Sampling seed.")] = 0,
    cache: Annotated[Path, _cache_option()] = Path(DEFAULT_CACHE),
    output: Annotated[Path, typer.Option(metavar="DIR", help="Output folder.")] = Path("latentatlas-compare"),
    as_json: Annotated[bool, _json_option("Print the matrices as JSON.")] = False,
) -> None:
    """Layer × layer similarity of two models (or two .npy clouds) over the same tokens."""
    from .analyses.compare import compare, write_comparison
    from .settings import CompareSettings

    settings = CompareSettings.checked("invalid option", {
        "measures": measure or ["cka"], "layers": layers, "max_points": max_points, "seed": seed, "cache": str(cache),
        "corpus": _corpus_options(corpus, n_sentences, seed, text_column, split_sentences, encoding),
    })
    _check_folders(output=output, cache=cache)
    result = compare(a, b, settings, progress=_state["progress"])
    files = write_comparison(result, output)
    if as_json:
        _echo_json(result)
    else:
        _echo_files(files, 16)


@_command("topology")
def topology_cmd(
    model: Annotated[str, typer.Option("--model", "-m", metavar="SPEC", help="Model spec.")] = "minilm",
    layer: Annotated[int, typer.Option(metavar="N", help="Layer (0 = embeddings, -1 = last).")] = -1,
    k: Annotated[int, typer.Option(metavar="N", help="Neighbours per local neighbourhood.")] = 32,
    seeds: Annotated[str, typer.Option(metavar="N,N,...", help="Comma-separated seeds (article splits, paired test).")] = "0,1,2,3,4",
    n_sentences: Annotated[int, typer.Option(metavar="N", help="Sentences (seeded sample).")] = 1000,
    corpus: Annotated[str, typer.Option(metavar="SOURCE", help=_CORPUS_HELP + " A line (paragraph) is an article of the split.")] = "bundled",
    text_column: Annotated[str | None, typer.Option(metavar="COLUMN", help="Text column of a .csv/.jsonl corpus.")] = None,
    split_sentences: Annotated[bool, typer.Option("--split-sentences", help=_SPLIT_HELP)] = False,
    encoding: Annotated[str, typer.Option(metavar="ENCODING", help=_ENCODING_HELP)] = "utf-8",
    cache: Annotated[Path, _cache_option()] = Path(DEFAULT_CACHE),
    output: Annotated[Path, typer.Option(metavar="DIR", help="Output folder.")] = Path("latentatlas-topology"),
    as_json: Annotated[bool, _json_option()] = False,
) -> None:
    """NER tagging on frozen LM vectors with and without local topology features (span F1 over seeds).

    Needs the [tda] extra (ripser, persim): pip install 'latentatlas[tda]'."""
    from .analyses.topology import paired_sentence, run_tagging, write_tagging
    from .measures.topology import require_tda
    from .settings import TaggingSettings

    require_tda()  # one line naming the extra, exit 2, before any work
    seed_list = _int_list("--seeds", seeds, "0,1,2,3,4")
    settings = TaggingSettings(model=model, layer=layer, k=k, seeds=seed_list, n_sentences=n_sentences,
                               corpus=_corpus_spec(corpus, n_sentences, 0, text_column, split_sentences, encoding))
    _check_folders(output=output, cache=cache)
    result = run_tagging(settings, cache_dir=cache, progress=_state["progress"])
    files = write_tagging(result, output)
    if as_json:
        _echo_json(result)
        return
    for row in result.summary.itertuples():
        typer.echo(f"{row.condition:<12} span F1 {row.f1_mean:.4f} ± {row.f1_std:.4f} ({row.n_seeds} seeds)")
    typer.echo(paired_sentence(result.paired))
    _echo_files(files, 20)


@_command("anchor")
def anchor_cmd(
    model: Annotated[list[str], typer.Option("--model", "-m", metavar="DIR", help="Model folder with an LM head; repeat.")],
    ks: Annotated[str, typer.Option(metavar="N,N,...", help="Comma-separated bulk sizes k (top-k words left out).")] = "0,10,100,1000",
    n_sentences: Annotated[int, typer.Option(metavar="N", help="Sentences (seeded sample).")] = 3000,
    corpus: Annotated[str, typer.Option(metavar="SOURCE", help=_CORPUS_HELP)] = "bundled",
    text_column: Annotated[str | None, typer.Option(metavar="COLUMN", help="Text column of a .csv/.jsonl corpus.")] = None,
    split_sentences: Annotated[bool, typer.Option("--split-sentences", help=_SPLIT_HELP)] = False,
    encoding: Annotated[str, typer.Option(metavar="ENCODING", help=_ENCODING_HELP)] = "utf-8",
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the sentence sample, masked positions and split.")] = 0,
    null_seeds: Annotated[int, typer.Option(metavar="N", help="Random null heads per kind (rotation, resample).")] = 3,
    output: Annotated[Path, typer.Option(metavar="DIR", help="Output folder.")] = Path("latentatlas-anchor"),
    report: Annotated[Path | None, _report_option()] = None,
    as_json: Annotated[bool, _json_option()] = False,
) -> None:
    """Anchor vector (Wu, Lee & Ge 2023): how well v0·f(x) predicts the bulk log partition function."""
    from .analyses.anchor import run_anchor, write_anchor
    from .settings import AnchorSettings

    _check_report_dir(report)
    k_list = _int_list("--ks", ks, "0,10,100,1000")
    settings = AnchorSettings(models=tuple(model), ks=k_list, n_sentences=n_sentences, seed=seed, null_seeds=null_seeds,
                              corpus=_corpus_spec(corpus, n_sentences, seed, text_column, split_sentences, encoding))
    _check_folders(output=output)
    result = run_anchor(settings)
    files = write_anchor(result, output, report_dir=report)
    if as_json:
        _echo_json(result)
        return
    for row in result.table.itertuples():
        c = "with c" if row.intercept else "no c  "
        typer.echo(f"{row.model:<28.28} k={row.k:<5} {c} R2 {row.real_r2:9.4f}  rotation null "
                   f"{row.null_rotation_r2:9.4f}  resample null {row.null_resample_r2:9.4f}  "
                   f"entropy {row.mean_entropy_nats:5.2f} nats")
    for name, verdict in result.info["verdicts"].items():
        typer.echo(f"{name}: {verdict['verdict']}")
    _echo_files(files, 16)


@_command("pretrain")
def pretrain_cmd(
    objective: Annotated[str, typer.Option(metavar="NAME", help="mlm, mlm_shuffle_sentence, mlm_shuffle_corpus, first_char, random.")] = "mlm",
    output: Annotated[Path, typer.Option(metavar="DIR", help="Model folder to write (resumes from its checkpoint).")] = Path("latentatlas-pretrain"),
    steps: Annotated[int, typer.Option(metavar="N", help="Optimiser steps of 32 x 64 tokens (3000: about 10 min on 2 idle cores).")] = 3000,
    hidden_size: Annotated[int, typer.Option(metavar="N", help="Hidden size.")] = 128,
    num_layers: Annotated[int, typer.Option(metavar="N", help="Transformer layers.")] = 2,
    num_heads: Annotated[int, typer.Option(metavar="N", help="Attention heads.")] = 2,
    intermediate_size: Annotated[int, typer.Option(metavar="N", help="Feed-forward size.")] = 512,
    seq_len: Annotated[int, typer.Option(metavar="N", help="Tokens per training block.")] = 64,
    batch_size: Annotated[int, typer.Option(metavar="N", help="Blocks per step.")] = 32,
    lr: Annotated[float, typer.Option(metavar="X", help="Peak learning rate (linear warm-up and decay).")] = 5e-4,
    n_sentences: Annotated[int | None, typer.Option(metavar="N", help="Sentences (seeded sample; default: all).")] = None,
    corpus: Annotated[str, typer.Option(metavar="SOURCE", help=_CORPUS_HELP)] = "bundled",
    text_column: Annotated[str | None, typer.Option(metavar="COLUMN", help="Text column of a .csv/.jsonl corpus.")] = None,
    split_sentences: Annotated[bool, typer.Option("--split-sentences", help=_SPLIT_HELP)] = False,
    encoding: Annotated[str, typer.Option(metavar="ENCODING", help=_ENCODING_HELP)] = "utf-8",
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of initialisation, batches, masking and shuffles.")] = 0,
) -> None:
    """Pre-train a small BERT masked LM on the bundled BBC corpus (or --corpus) with one objective
    (checkpointed, resumable)."""
    from .pretrain import pretrain
    from .settings import PretrainSettings

    spec = _corpus_spec(corpus, n_sentences, seed, text_column, split_sentences, encoding)
    settings = PretrainSettings(
        objective=objective, steps=steps, hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
        intermediate_size=intermediate_size, seq_len=seq_len, batch_size=batch_size, lr=lr, seed=seed,
        **({"n_sentences": n_sentences} if spec is None else {"corpus": spec}),
    )
    _check_folders(output=output)
    summary = pretrain(settings, output)
    typer.echo(
        f"{objective}: {summary['tokens']} tokens at {summary['tokens_per_second']:.0f} tokens/s, "
        f"held-out loss {summary['final_heldout_loss']:.3f}; model folder {output}"
    )


@_command("score-model")
def score_model_cmd(
    model: Annotated[list[str], typer.Argument(help="Model spec(s) to score.", metavar="SPEC...")],
    predictor: Annotated[Path, typer.Option(metavar="FILE", help="predictor.json written by `latentatlas run`.")] = Path(
        "latentatlas-out/predictor.json"),
    cache: Annotated[Path, _cache_option()] = Path(DEFAULT_CACHE),
    as_json: Annotated[bool, _json_option("Print the predictions as JSON.")] = False,
) -> None:
    """Predict a model's downstream score from its geometry, with the relation a study fitted."""
    from .pipeline.predictor import read_predictor, score_models

    fitted = read_predictor(predictor)
    rows = score_models(model, fitted, cache=cache, progress=_state["progress"])
    if as_json:
        typer.echo(json.dumps({"predictor": str(predictor), "nested_cv": fitted["nested_cv"], "models": rows},
                              indent=2))
        return
    fit, ncv, p_fw = fitted["fit"], fitted["nested_cv"], fitted["selection"].get("p_family_wise")
    rmse = "n/a" if ncv.get("mse") is None else f"{ncv['mse'] ** 0.5:.3g}"
    typer.echo(f"{fit['target']} ~ {fit['column']} (fitted on {fit['n']} training models; nested-CV RMSE {rmse}, "
               f"family-wise p {'n/a' if p_fw is None else f'{p_fw:.3g}'})")
    for r in rows:
        note = (f"  outside the training range [{fit['x_min']:.4g}, {fit['x_max']:.4g}]: extrapolation"
                if r["extrapolates"] else "")
        typer.echo(f"{r['spec']}: {r['target']} {r['predicted']:.4f} [{r['lower']:.4f}, {r['upper']:.4f}] "
                   f"({r['measure']}@{r['layer']} = {r['value']:.6g}){note}")


@_command("predict")
def predict_cmd(
    table: Annotated[Path, typer.Argument(metavar="TABLE", help="A .csv, .tsv or .parquet table, one row per model.")],
    target: Annotated[str, typer.Option("--target", "-t", metavar="COLUMN", help="Column to predict (e.g. the GLUE average).")],
    predictor: Annotated[
        list[str] | None, typer.Option("--predictor", "-p", metavar="COLUMN", help="Numeric predictor column; repeat.")
    ] = None,
    predictors: Annotated[
        list[str] | None,
        typer.Option("--predictors", metavar="GLOB", help="Glob over column names selecting candidate predictors (e.g. 'aq_*'); "
                     "repeat; adds to --predictor."),
    ] = None,
    factor: Annotated[str | None, typer.Option(metavar="COLUMN", help="Categorical column added as a treatment-coded factor.")] = None,
    holdout_col: Annotated[
        str | None, typer.Option(metavar="COLUMN", help="Column whose truthy values (1/true/yes/holdout) mark held-out rows.")
    ] = None,
    id_col: Annotated[str | None, typer.Option(metavar="COLUMN", help="Column naming rows (default: spec, model or row number).")] = None,
    group_col: Annotated[
        str | None,
        typer.Option(metavar="COLUMN", help="Column labelling related models (seed twins, checkpoints of one run), left out "
                     "together in cross-validation; absent: each row its own group."),
    ] = None,
    dropna: Annotated[
        bool, typer.Option("--dropna", help="Leave out rows with a missing value in a column used (as R's lm "
                           "does); their number is reported.")
    ] = False,
    n_permutations: Annotated[
        int, typer.Option(metavar="N", help="Permutations of the family-wise test of the best predictor.")
    ] = 1000,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the permutations.")] = 0,
    as_json: Annotated[bool, _json_option("Print the full result as JSON.")] = False,
) -> None:
    """Fit target ~ predictor (+ factor) by OLS with leave-one-group-out error, held-out predictions, and the
    cost of picking the best predictor (family-wise permutation p, q-values, nested cross-validation)."""
    from .stats import analyse, read_table
    from .stats.predict import expand_predictors
    from .stats.summary import format_analysis

    df = read_table(table)
    default_id = id_col or next((c for c in ("spec", "model") if c in df.columns), None)
    names = expand_predictors(list(df.columns), predictor, predictors,
                              exclude=[target, factor, holdout_col, default_id, group_col])
    result = analyse(
        df, target, names, factor=factor, holdout=holdout_col, id_col=id_col, groups=group_col,
        dropna=dropna, n_permutations=n_permutations, seed=seed,
    )
    typer.echo(json.dumps(result, indent=2) if as_json else format_analysis(result))


_CACHE_DIR_HELP = f"Cache folder (default: ${CACHE_ENV}, else {DEFAULT_CACHE}); also accepted before the subcommand."


@cache_app.callback()
def _cache_group(
    cache: Annotated[Path | None, typer.Option(metavar="DIR", help=f"Cache folder (default: ${CACHE_ENV}, else {DEFAULT_CACHE}).")] = None,
) -> None:
    _state["cache"] = cache


def _cache_dir(cache: Path | None) -> Path:
    """--cache after the subcommand, else before it, else $LATENTATLAS_CACHE, else .latentatlas-cache."""
    from .io import default_cache

    chosen = cache if cache is not None else _state.get("cache")
    return Path(chosen) if chosen is not None else Path(default_cache())


@_command("list", cache_app)
def cache_list(
    cache: Annotated[Path | None, typer.Option(metavar="DIR", help=_CACHE_DIR_HELP)] = None,
    as_json: Annotated[bool, _json_option("Print JSON.")] = False,
) -> None:
    """List the cache's entries with their kind, size, age and model (where the entry names it)."""
    from .api import cache_entries
    from .cachedir import human_age, human_bytes

    cache = _cache_dir(cache)
    df = cache_entries(cache)
    if as_json:
        typer.echo(df.to_json(orient="records", indent=2))
        return
    for e in df.itertuples():
        model = f"  model {e.model[:16]}" if isinstance(e.model, str) else ""
        partial = "  (unfinished)" if e.partial else ""
        typer.echo(f"{e.kind:<12} {e.name[:16]:<16} {human_bytes(e.bytes):>9} {human_age(e.age_s):>5}{model}{partial}")
    by_kind = df.groupby("kind", sort=False)["bytes"].agg(["count", "sum"])
    summary = ", ".join(f"{k} {int(r['count'])} ({human_bytes(r['sum'])})" for k, r in by_kind.iterrows())
    typer.echo(f"{len(df)} entries, {human_bytes(df['bytes'].sum())} in {cache}" + (f": {summary}" if summary else ""))


@_command("prune", cache_app)
def cache_prune(
    cache: Annotated[Path | None, typer.Option(metavar="DIR", help=_CACHE_DIR_HELP)] = None,
    older_than: Annotated[str | None, typer.Option(metavar="AGE", help="Entries last written longer ago than AGE: 30d, 12h, 90m, 2w.")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", metavar="SPEC", help="Entries of this model (its activation stores, variant weights, zoo folder); repeat.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")] = False,
) -> None:
    """Remove cache entries by age and/or model (both given: entries matching both); never outside the cache.

    Features, fine-tuning runs and measure values are keyed by content hashes, not by model: prune them
    by age.
    """
    from .api import prune_cache
    from .cachedir import human_bytes

    chosen = prune_cache(_cache_dir(cache), older_than=older_than, models=model, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for e in chosen:
        typer.echo(f"{verb} {e.kind}/{e.path.name} ({human_bytes(e.bytes)})")
    typer.echo(f"{verb} {len(chosen)} entries, {human_bytes(sum(e.bytes for e in chosen))}")


def _study_from_options(
    cache: Path, corpus: str, n_sentences: int | None, seed: int, text_column: str | None, layers: str,
    split_sentences: bool = False, encoding: str = "utf-8", **extra: Any
) -> Any:
    """A Study built from command-line options, validated with the same messages as a study file."""
    from .settings import Study

    corpus_spec = _corpus_options(corpus, n_sentences, seed, text_column, split_sentences, encoding)
    return Study.checked("invalid option", {"cache": str(cache), "corpus": corpus_spec, "layers": layers, **extra})


def _corpus_options(
    corpus: str, n_sentences: int | None, seed: int, text_column: str | None, split_sentences: bool,
    encoding: str = "utf-8",
) -> dict[str, Any]:
    """The corpus options of a command as the fields of a :class:`~latentatlas.settings.CorpusSpec`."""
    return {"source": corpus, "n_sentences": n_sentences, "seed": seed, "text_column": text_column,
            "split_sentences": split_sentences, "encoding": encoding}


def _corpus_spec(
    corpus: str, n_sentences: int | None, seed: int, text_column: str | None, split_sentences: bool,
    encoding: str = "utf-8",
) -> Any:
    """A :class:`~latentatlas.settings.CorpusSpec` from a command's options (None for the plain bundled corpus,
    which the analyses sample themselves as before), checked with the flags named."""
    from .settings import CorpusSpec

    if corpus == "bundled" and text_column is None and not split_sentences and encoding == "utf-8":
        return None
    if corpus == "bundled" and text_column is not None:
        raise BadInputError("--text-column names a column of a .csv/.jsonl corpus; pass the file with --corpus.")
    if corpus == "bundled" and encoding != "utf-8":
        raise BadInputError("--encoding is the encoding of a corpus file; pass the file with --corpus.")
    return CorpusSpec(**_corpus_options(corpus, n_sentences, seed, text_column, split_sentences, encoding))


def _check_folders(*, output: Path | None = None, cache: Path | None = None) -> None:
    """Before any work: ``--output`` must be a folder this process can write (or create); ``--cache`` a
    folder (an existing one may be read-only: its complete entries are only read)."""
    from .io import check_writable_dir

    if output is not None:
        check_writable_dir(output, "--output folder")
    if cache is not None:
        check_writable_dir(cache, "--cache folder", read_only_ok=True)


def _os_error_line(exc: OSError) -> str:
    """One line for a file-system error: what, where, and the fix."""
    where = " at ".join(str(f) for f in (exc.filename, exc.filename2) if f)
    what = exc.strerror or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some space there or pass another folder (--output, --cache or the study's cache:)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "pass a folder you can write to (--output, --cache or the study's cache:)"
    else:
        fix = "check that path and run again"
    return f"file system error at {where or '(path not reported)'}: {what}; {fix}."


def _unexpected_line(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return ("out of memory; use fewer points (--max-points, --n-sentences or the study's max_points) or a "
                "machine with more memory. Run `latentatlas -v ...` for the traceback.")
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return (f"unexpected {type(exc).__name__}{': ' + text if text else ''} (run `latentatlas -v ...` for the "
            "traceback, and please report it).")


#: The global flags, also accepted after the subcommand (moved in front of it before parsing).
GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def hoist_global_flags(argv: list[str]) -> list[str]:
    """``latentatlas run study.yaml --quiet`` → ``latentatlas --quiet run study.yaml`` (tokens after ``--``
    are left alone)."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in GLOBAL_FLAGS]
    return flags + [a for a in argv[:end] if a not in GLOBAL_FLAGS] + argv[end:]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``latentatlas`` console script; returns the exit code.

    Usage errors are reported by Typer itself (exit code 2). Everything else is one line on stderr: a
    LatentAtlasError with its exit code (2 bad input, 1 environment), a file-system error (no space,
    permission, read-only) with exit code 1 and the path, any other exception with exit code 1. With
    ``-v`` the traceback is printed above that line.
    """
    _state["verbose"] = False
    try:
        return _run(hoist_global_flags(list(sys.argv[1:] if argv is None else argv)))
    finally:
        logs.flush_repeats()


def _run(argv: list[str]) -> int:
    no_args = getattr(click_errors, "NoArgsIsHelpError", ())
    try:
        code = app(args=argv, prog_name="latentatlas", standalone_mode=False)
    except no_args as exc:
        exc.show()
        return int(exc.exit_code)
    except click_errors.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "latentatlas"
        message = " ".join(exc.format_message().split())
        typer.echo(f"latentatlas: error: {message} (see `{where} --help`)", err=True)
        return EXIT_BAD_INPUT
    except click_errors.ClickException as exc:
        typer.echo(f"latentatlas: error: {' '.join(exc.format_message().split())}", err=True)
        return int(exc.exit_code)
    except typer.Abort:
        typer.echo("latentatlas: aborted", err=True)
        return 1
    except LatentAtlasError as exc:
        return _fail(f"{exc}", exc.exit_code, exc)
    except ValidationError as exc:  # settings built from options: one line naming the field
        return _fail(f"invalid option {describe(exc, as_flags=True)}", EXIT_BAD_INPUT, exc)
    except OSError as exc:  # the file system refused: not the user's input, exit 1
        return _fail(_os_error_line(exc), EXIT_ENVIRONMENT, exc)
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen failure: one line, the traceback with -v
        return _fail(_unexpected_line(exc), EXIT_ENVIRONMENT, exc)
    return code if isinstance(code, int) else 0


def _fail(line: str, code: int, exc: BaseException) -> int:
    """Print ``line`` (after the traceback of ``exc`` when -v was given) and return ``code``."""
    if _state["verbose"] and not isinstance(exc, LatentAtlasError):
        traceback.print_exception(exc, file=sys.stderr)
    typer.echo(f"latentatlas: error: {line}", err=True)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
