"""Scale benchmark: how every cost grows with the data, on synthetic datasets of three sizes.

For each size (``small`` 10k items / 100k interactions, ``medium`` 100k / 1M, ``large`` 1M /
10M; users a twentieth of the interactions) it runs, each step in a fresh process so that its
peak memory is its own:

1. ``synth``: ``workbench data synth`` (:mod:`workbench.data.synth`);
2. ``prepare``: the ordinary own-dataset path (Parquet, validation, splits);
3. ``embed``: the default int8 encoder on a sample of the item texts (texts/s);
4. ``index``: the content index of the catalog's size (``auto``: exact, then HNSW, then
   IVF+SQ8), its recall@10 against exact search on 1,000 sampled queries and single-query
   p50. Embedding a million plots takes this machine hours, so the index is built over
   **stand-in vectors** (:func:`standin_vectors`): each item's theme centroid (the mean of
   the embedded sample's vectors of that theme) plus Gaussian noise with the covariance of
   the sample's vectors of that theme (a random mix of their deviations from the centroid,
   so the noise lies along the directions real encodings of the theme vary), normalised.
   ``benchmarks/standin_check.py`` compares them with the real encodings of a whole
   100,000-item catalog (docs/scale.md);
5. one step per model (``popularity``, ``itemknn``, ``ials`` with 64 factors and 10
   iterations, ``sansa``, ``ease``, ``content_knn``): the memory check first (a refusal is
   recorded with its one-line message, as a user sees it), then training on the
   leave-last-out training split and the evaluation of at most ``--eval-users`` sampled test
   users ranked over the whole catalog (NDCG@10, seconds).

It writes ``scale.json`` and the log-log plot ``scale.png`` into ``--out`` and replaces the
generated section of ``--doc`` (``docs/scale.md``) with the table. CI runs the smallest
point (tests/test_scale_benchmark.py).

    .venv/bin/python benchmarks/scale_benchmark.py                      # all three, ~1 h
    .venv/bin/python benchmarks/scale_benchmark.py --sizes small        # ~1 minute
    .venv/bin/python benchmarks/scale_benchmark.py --sizes medium --update   # one size again
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {"small": (10_000, 5_000, 100_000), "medium": (100_000, 50_000, 1_000_000),
         "large": (1_000_000, 500_000, 10_000_000)}
"""name: (items, users, interactions)."""
MODELS = ("popularity", "itemknn", "ials", "sansa", "ease", "content_knn")
PARAMS = {"ials": {"factors": 64, "iterations": 10}}
BEGIN, END = "<!-- scale-benchmark:begin -->", "<!-- scale-benchmark:end -->"
REPO = Path(__file__).resolve().parents[1]


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _settings(home: str, budget: float | None):
    from workbench.settings import Settings

    return Settings(home=home, data_mirror=Path(home) / "no-mirror", memory_budget_gb=budget)


def step_synth(home: str, name: str, size: str, budget: float | None) -> dict:
    from workbench.data.registry import register_spec
    from workbench.data.synth import SynthSize, write_synthetic

    settings = _settings(home, budget)
    items, users, interactions = SIZES[size]
    started = time.perf_counter()
    result = write_synthetic(name, SynthSize(items, users, interactions, seed=0),
                             settings.raw_dir(name))
    register_spec(result.spec_file, settings)
    return {"seconds": time.perf_counter() - started, "items": result.items,
            "users": result.users, "interactions": result.interactions}


def step_prepare(home: str, name: str, budget: float | None) -> dict:
    from workbench.data import prepare

    started = time.perf_counter()
    report = prepare(name, _settings(home, budget))
    return {"seconds": time.perf_counter() - started,
            "test_users": report.outputs["splits"]["leave_last_out"]["test_users"]}


def step_content(home: str, name: str, sample: int, budget: float | None) -> dict:
    """Embed a sample, then build the index over synthetic vectors (module docstring)."""
    from workbench import data
    from workbench.content import TextEncoder, VectorIndex
    from workbench.content.embeddings import item_texts, onnx_dir
    from workbench.content.index import IndexManifest

    settings = _settings(home, budget)
    items = data.load_items(name, settings)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(items), size=min(sample, len(items)), replace=False))
    encoder = TextEncoder(onnx_dir=onnx_dir(settings))
    texts = item_texts(items.iloc[rows]).tolist()
    encoder.encode(texts[:32])  # the graph is loaded (or built) before the clock starts
    started = time.perf_counter()
    embedded = encoder.encode(texts)
    embed_seconds = time.perf_counter() - started
    theme = items["genres"].map(tuple).astype("category").cat.codes.to_numpy()
    vectors = standin_vectors(embedded, theme[rows], theme, rng)
    manifest = IndexManifest(dataset=name, embedding_model=encoder.identity,
                             encoder=encoder.identity, text_dim=vectors.shape[1],
                             tabular_dim=0, fusion=False, tabular_weight=0.0,
                             index_type="auto")
    started = time.perf_counter()
    index = VectorIndex.build(vectors, items["item_id"].to_numpy(), manifest)
    build_seconds = time.perf_counter() - started
    index.save(settings.index_file(name))
    m = index.manifest
    if m.search_p50_ms is None:  # exact search: time single queries too
        times = []
        for row in rng.choice(len(vectors), size=200, replace=False):
            t0 = time.perf_counter()
            index.search(vectors[row:row + 1], 10)
            times.append(time.perf_counter() - t0)
        m.search_p50_ms = 1000 * float(np.median(times))
    return {"embed_texts_per_s": len(texts) / embed_seconds, "embed_sample": len(texts),
            "index_type": m.index_type, "index_factory": m.index_params["factory"],
            "index_seconds": build_seconds, "recall_at_10": m.recall_at_10,
            "search_p50_ms": m.search_p50_ms, "index_bytes": index.nbytes()}


def standin_vectors(sample: np.ndarray, sample_theme: np.ndarray, theme: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """One normalised vector per entry of ``theme``: its theme's centroid in ``sample`` (real
    encodings, ``sample_theme`` their themes) plus Gaussian noise with the covariance of the
    theme's sample vectors (standard normal weights on their deviations from the centroid).
    Independent noise per dimension instead is far harder for an index than real encodings
    (no structure below the theme): at 100k items IVF needed four times the probes."""
    vectors = np.empty((len(theme), sample.shape[1]), np.float32)
    for code in np.unique(theme):
        mine = sample[sample_theme == code]
        if len(mine) < 2:
            mine = sample
        centre = mine.mean(axis=0)
        deviations = (mine - centre) / np.sqrt(len(mine))
        where = np.flatnonzero(theme == code)
        for start in range(0, len(where), 65536):  # bounded memory at a million items
            part = where[start:start + 65536]
            weights = rng.standard_normal((len(part), len(mine)), np.float32)
            vectors[part] = centre + weights @ deviations
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def step_model(home: str, name: str, model: str, eval_users: int, budget: float | None
               ) -> dict:
    import logging

    from workbench import data, evaluation
    from workbench.collaborative import CollaborativeError, make_config, train
    from workbench.collaborative.capacity import ModelTooLarge

    logging.disable(logging.WARNING)
    settings = _settings(home, budget)
    items = data.load_items(name, settings)
    parts = data.load_split(name, "leave_last_out", settings)
    config = make_config(dataset=name, model=model, params=PARAMS.get(model, {}))
    started = time.perf_counter()
    try:
        fitted = train(config, parts.train, items["item_id"].to_numpy(), settings=settings)
    except ModelTooLarge as exc:
        return {"refused": str(exc)}
    except CollaborativeError as exc:  # e.g. sansa not installed
        return {"error": str(exc)}
    train_seconds = time.perf_counter() - started
    test = evaluation.sample_users(parts.test, eval_users, seed=42)
    started = time.perf_counter()
    metrics = evaluation.full_ranking(fitted, test, 10)
    return {"train_seconds": train_seconds, "eval_seconds": time.perf_counter() - started,
            "eval_users": int(metrics["full_users_evaluated"]),
            "ndcg_at_10": metrics["full_ndcg_at_10"]}


def _run(function, *args) -> dict:
    """``function(*args)`` in a fresh process; its result with the process's peak memory."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_measured, (function, *args))


def _measured(function, *args) -> dict:
    result = function(*args)
    result["peak_gb"] = _peak_gb()
    return result


def run_size(size: str, home: str, models: list[str], sample: int, eval_users: int,
             budget: float | None, log=print) -> dict:
    """Every step at one size; returns {step: figures}."""
    name = f"synth-{size}"
    out = {"size": size}
    for step, call in (("synth", (step_synth, home, name, size, budget)),
                       ("prepare", (step_prepare, home, name, budget)),
                       ("content", (step_content, home, name, sample, budget))):
        out[step] = _run(*call)
        log(f"{size} {step}: {json.dumps(out[step])}")
    for model in models:
        out[model] = _run(step_model, home, name, model, eval_users, budget)
        log(f"{size} {model}: {json.dumps(out[model])}")
    return out


def table(results: list[dict]) -> str:
    """The Markdown table of every size's figures."""
    lines = ["| step | " + " | ".join(
        f"{r['size']}: {r['synth']['items']:,} items, {r['synth']['interactions']:,} "
        f"interactions" for r in results) + " |",
        "|---|" + "---|" * len(results)]

    def row(label: str, cell) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")

    row("synth", lambda r: f"{r['synth']['seconds']:.1f} s, {r['synth']['peak_gb']:.1f} GB")
    row("prepare", lambda r: f"{r['prepare']['seconds']:.1f} s, "
                             f"{r['prepare']['peak_gb']:.1f} GB")
    row("embedding (int8, sample)", lambda r: f"{r['content']['embed_texts_per_s']:.0f} "
                                              f"texts/s")
    row("index build", lambda r: f"`{r['content']['index_factory']}` "
                                 f"{r['content']['index_seconds']:.1f} s, "
                                 f"{r['content']['index_bytes'] / 2**20:.0f} MB, "
                                 f"{r['content']['peak_gb']:.1f} GB peak")
    row("index recall@10 / search p50", lambda r: f"{r['content']['recall_at_10']:.3f} / "
                                                 f"{r['content']['search_p50_ms']:.2f} ms")
    for model in MODELS:
        if not any(model in r for r in results):
            continue

        def cell(r, model=model) -> str:
            if model not in r:
                return "not run"
            m = r[model]
            if "refused" in m:
                return "refused: " + m["refused"].split(", over")[0].replace("|", "/")
            if "error" in m:
                return "error: " + m["error"][:80].replace("|", "/")
            return (f"train {m['train_seconds']:.1f} s, eval {m['eval_seconds']:.1f} s "
                    f"({m['eval_users']:,} users), {m['peak_gb']:.1f} GB, NDCG@10 "
                    f"{m['ndcg_at_10']:.4f}")

        row(model, cell)
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    """Log-log: seconds of each step against interactions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["synth"]["interactions"] for r in results]
    series = {"prepare": [r["prepare"]["seconds"] for r in results],
              "index build": [r["content"]["index_seconds"] for r in results]}
    for model in MODELS:
        times = [r.get(model, {}).get("train_seconds") for r in results]
        if any(t is not None for t in times):
            series[f"train {model}"] = times
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in series.items():
        points = [(a, b) for a, b in zip(x, values, strict=True) if b]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.set(xscale="log", yscale="log", xlabel="interactions (items = interactions / 10)",
           ylabel="seconds (2 cores)", title="Cost against size (scale benchmark)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_doc(doc: Path, results: list[dict], image: str) -> None:
    """Replace the generated section of ``doc`` (between the markers) with the table."""
    text = doc.read_text() if doc.is_file() else f"# Scale\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc} has no generated section ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    body = (f"{BEGIN}\n<!-- generated by benchmarks/scale_benchmark.py; do not edit -->\n\n"
            f"{table(results)}\n\n![Cost against size]({image})\n")
    doc.write_text(head + body + END + rest.split(END, 1)[1])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--home", help="Workbench home for the datasets (default: a "
                                       "temporary folder, removed afterwards).")
    parser.add_argument("--embed-sample", type=int, default=2000)
    parser.add_argument("--eval-users", type=int, default=10_000)
    parser.add_argument("--memory-budget-gb", type=float, default=12.0)
    parser.add_argument("--out", type=Path, default=REPO / "docs",
                        help="Folder for scale.json and scale.png.")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "scale.md",
                        help="Markdown file whose generated section gets the table.")
    parser.add_argument("--update", action="store_true",
                        help="Keep the other sizes' results from OUT/scale.json (rerun only "
                             "--sizes; at those, the models not in --models keep theirs).")
    parser.add_argument("--render", action="store_true",
                        help="Run nothing: write the table and plot from OUT/scale.json.")
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads((args.out / "scale.json").read_text())
        plot(results, args.out / "scale.png")
        write_doc(args.doc, results, "scale.png")
        print(table(results))
        return results
    with tempfile.TemporaryDirectory(prefix="scale-") as scratch:
        home = args.home or scratch
        results = [run_size(size, home, args.models, args.embed_sample, args.eval_users,
                            args.memory_budget_gb) for size in args.sizes]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.update and (args.out / "scale.json").is_file():
        fresh = {r["size"]: r for r in results}
        kept = json.loads((args.out / "scale.json").read_text())
        # a rerun size keeps the steps it did not rerun (models left out with --models)
        results = [{**r, **fresh.pop(r["size"])} if r["size"] in fresh else r
                   for r in kept] + list(fresh.values())
        results.sort(key=lambda r: list(SIZES).index(r["size"]))
    (args.out / "scale.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out / "scale.png")
    write_doc(args.doc, results, "scale.png" if args.out.resolve() == args.doc.parent.resolve()
              else str((args.out / "scale.png").resolve()))
    print(table(results))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
