"""Every shell command in README.md and docs/*.md is exercised: run here on a toy home, or
listed with the test that covers it and why it cannot run here.

The commands are the lines of every ```bash / sh / shell / console block (continuation lines
joined, comments dropped) and the inline code that is a whole command (``.venv/bin/...``,
``make ...``). Each must be in :data:`COMMANDS`, keyed by its text (``.venv/bin/`` dropped,
so the README's ``workbench ...`` and a page's ``.venv/bin/workbench ...`` share an entry):

- :func:`run` entries run through the CLI in-process on a toy home, in the order of the
  docs, with the named words replaced (``anime`` -> ``toy``, a real user id -> a toy one,
  sizes -> small ones): the options and the command's shape are the docs' own;
- :func:`covered` entries name the test file that runs them (and a string it must contain)
  and the reason: they need the full pipeline, a cluster, the network, a server, or they
  write into the checkout.

Every entry is also checked statically: a ``workbench`` command parses (subcommands,
options, their types), a ``make`` target exists and ``make -n`` accepts its variables, a
papermill run names a notebook and parameters it declares, a script exists, an exported
variable is a setting the workbench reads. A command added to the docs without an entry, an
entry whose command left the docs, or a command that fails is a failure.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import REPO

runner = CliRunner()
FENCED = re.compile(r"^```(bash|sh|shell|console)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`((?:(?:[A-Z_]+=\S+ )*\.venv/bin/|make )[^`]+)`")


@dataclass(frozen=True)
class Entry:
    """How a documented command is exercised."""

    subs: dict[str, str] | None = None
    """Run here, with these whole words replaced (None: covered elsewhere)."""
    test: str = ""
    contains: str = ""
    reason: str = ""
    expect: tuple[str, ...] = field(default_factory=tuple)
    """Text the run's output must contain."""


def run(subs: dict[str, str] | None = None, *expect: str) -> Entry:
    """Run on the toy home, with ``subs`` replacing whole words."""
    return Entry(subs=subs or {}, expect=expect)


def covered(test: str, contains: str, reason: str) -> Entry:
    """Covered by ``test`` (a file that must contain ``contains``) for ``reason``."""
    return Entry(test=test, contains=contains, reason=reason)


TOY = {"anime": "toy", "movies": "toy"}
SYNTH = {"big": "tiny", "mid": "tiny", "1000000": "300", "500000": "40", "10000000": "3000",
         "100000": "300", "50000": "40"}
PIPELINE = "needs the full pipeline's artifacts (real catalogs, every sweep)"
SERVER = "starts a server (it runs until stopped)"
CLUSTER = "needs a Ray cluster and a tracking server"

COMMANDS: dict[str, Entry] = {
    # README: quick start and the command line
    "make pipeline": covered("tests/test_pipeline.py", '"pipeline"', PIPELINE),
    "make test": covered(".ci/run", "make test",
                         "the whole suite: what CI runs (this file is part of it)"),
    "workbench data list": run(None, "toy"),
    "workbench data add SPEC.yaml": covered("tests/test_pipeline.py", '"data", "add"',
                                            "a placeholder spec; the bookshop spec is added "
                                            "there"),
    "workbench data synth big --items 1000000 --users 500000 --interactions 10000000":
        run(SYNTH, "tiny"),
    "workbench data fetch movies": covered("tests/data/test_fetch.py", "fetch(",
                                           "needs the data mirror or the network"),
    "workbench data prepare anime": run({"anime": "tiny"}, "prepare report for tiny"),
    "workbench data summary movies anime": run({"movies": "toy", "anime": "tiny"},
                                               "interactions"),
    'workbench content search anime "time travel thriller" -k 5': run(TOY, "Paradox Loop"),
    "workbench collaborative models": run(None, "ease"),
    "workbench collaborative train anime -m ease -p l2=150": run(TOY, "test NDCG@10"),
    "workbench experiments run movies_default --dry-run": run({"movies_default": "toy_default"},
                                                              "sweep toy_default"),
    "workbench experiments compare movies_default": run({"movies_default": "toy_default"},
                                                        "experiments/runs/toy_default/"
                                                        "compare.csv"),
    "workbench experiments best tune": run(None, "no finished trial"),
    "workbench experiments table movies-default": run({"movies-default": "toy-default"},
                                                      "| toy | ease | 1 |"),
    "workbench report": covered("tests/experiments/test_report.py", '"report"',
                                "writes docs/results.md of the checkout"),
    "workbench report --dataset ml1m": covered("tests/experiments/test_report.py",
                                               '"--dataset"', "writes docs/results.md of "
                                               "the checkout"),
    "python benchmarks/paper_protocols.py --models neumf": covered(
        "tests/test_benchmarks.py", "paper_protocols", "trains on ml1m for about an hour"),
    "python benchmarks/paper_protocols.py --models neumf64": covered(
        "tests/test_benchmarks.py", "neumf64", "trains on ml1m for hours"),
    "python benchmarks/paper_protocols.py --models sasrec": covered(
        "tests/test_benchmarks.py", "paper_protocols", "trains on ml1m for hours"),
    "workbench register-hybrid --dataset anime": covered(
        "tests/test_serving.py", "log_hybrid", "logs and registers a model (slow): the "
        "serving tests do it on a toy home"),
    'workbench recommend --dataset anime --query "time travel thriller" --user 42':
        run({**TOY, "42": "1"}, "AI pick"),
    "workbench franchises anime naruto": run({"anime": "toy", "naruto": "paradox"},
                                             "Paradox Loop"),
    'workbench items add --dataset movies --title "The Thing" --year 1982': covered(
        "tests/enrich/test_coldstart.py", "add_item", "needs TMDB (the network and a key): "
        "a local fake there"),
    "workbench items heal --dataset anime --report": run(TOY, "toy"),
    "workbench pipeline": covered("tests/test_pipeline.py", '"pipeline"', PIPELINE),
    "workbench settings": run(None, "home"),
    # README: after the pipeline (inline)
    "make dashboard": covered("tests/test_dashboard_browser.py", "voila", SERVER),
    'workbench recommend --dataset anime --query "time travel thriller" --user 1':
        run(TOY, "Content match"),
    "make serve": covered("tests/test_serving.py", "models\", \"serve", SERVER),
    "make serve DATASET=anime": covered("tests/test_serving.py", "models\", \"serve",
                                        SERVER + "; `mlflow models serve` is started there"),
    "make mlflow-ui": covered("tests/test_mlflow_ui_browser.py", "mlflow-ui", SERVER +
                              "; `workbench mlflow-ui` (what it runs) is opened in Chromium "
                              "there"),
    "make mlflow-screenshot": covered("tests/test_mlflow_ui_browser.py",
                                      "MLFLOW_UI_SCREENSHOT", "the browser test on this "
                                      "home's runs; writes docs/mlflow-ui.png"),
    "make tracking-server": covered("tests/experiments/test_tuning_storage.py",
                                    "tracking_server", SERVER),
    "papermill notebooks/03_train_collaborative.ipynb /tmp/03.ipynb -p dataset anime -p "
    "model ials": covered("tests/test_notebooks.py", "03_train_collaborative",
                          "papermill runs of every notebook are there (a kernel each)"),
    "WORKBENCH_MLFLOW_URI=http://127.0.0.1:5000 workbench experiments run toy_default --ray "
    "HOST:6379": covered("tests/helpers/ray_cluster.py", "--ray", CLUSTER),
    "workbench experiments run mine --dry-run": run({"mine": "zoo"}, "sweep zoo"),
    "make help": run(None, "pipeline"),
    "make setup": covered(".ci/run", "make test", "installs .venv (4 GB): the fresh-clone "
                          "CI run does it before `make test`"),
    "make test-fast": covered(".ci/run", "make test", "a part of the suite"),
    "make lint": run(None),
    # add-a-model.md
    "workbench collaborative train movies -m goodpop -p min_rating=4.5": covered(
        "tests/collaborative/test_add_a_model_page.py", "goodpop", "the page's model, "
        "written out and trained there"),
    "papermill notebooks/03_train_collaborative.ipynb /tmp/03.ipynb -p dataset movies -p "
    "model goodpop": covered("tests/collaborative/test_add_a_model_page.py", "goodpop",
                             "the page's model"),
    # cluster.md
    "export WORKBENCH_MLFLOW_URI=http://127.0.0.1:5000": covered(
        "tests/helpers/ray_cluster.py", "WORKBENCH_MLFLOW_URI", CLUSTER),
    "export WORKBENCH_OPTUNA_URI=postgresql+psycopg2://workbench@127.0.0.1:5433/optuna":
        covered("tests/experiments/test_tuning_storage.py", "postgresql", CLUSTER),
    "ray start --head --port 6379 --num-cpus 2": covered("tests/helpers/ray_cluster.py",
                                                         "--head", CLUSTER),
    "workbench experiments run toy_default --ray 127.0.0.1:6379": covered(
        "tests/helpers/ray_cluster.py", "--ray", CLUSTER),
    "workbench experiments run tune --only itemknn --ray 127.0.0.1:6379": covered(
        "tests/helpers/ray_cluster.py", "trial", CLUSTER),
    "workbench pipeline --dataset toy --ray 127.0.0.1:6379": covered(
        "tests/tasks/test_pipeline_ray.py", "run_pipeline", CLUSTER + " (mocked there)"),
    "make tracking-server TRACKING_PORT=5001 PG_PORT=5434": covered(
        "tests/experiments/test_tuning_storage.py", "tracking_server", SERVER),
    "make tracking-server BACKEND_STORE_URI=postgresql://mlflow:secret@db.internal:5432/"
    "mlflow": covered("tests/experiments/test_tuning_storage.py", "tracking_server",
                      SERVER + " on a database of your own"),
    # collaborative.md
    "workbench collaborative train anime --model ials -p factors=128 -p alpha=2": run(
        TOY, "test NDCG@10"),
    "workbench experiments run tune -j 2": covered("tests/experiments/test_tuning.py",
                                                   "study", "the real studies take hours; "
                                                   "a toy study runs there"),
    "workbench experiments best tune --write": run(None, "no finished trial"),
    "workbench experiments run zoo -j 2 --only peers": covered(
        "tests/experiments/test_sweeps.py", "only=", "about 10 minutes on the real "
        "catalogs; --only on a toy sweep there"),
    "workbench experiments run zoo --only keras": covered(
        "tests/experiments/test_sweeps.py", "only=", "about 90 minutes"),
    "workbench experiments run tune --only sasrec": covered(
        "tests/experiments/test_sweeps.py", "only=", "20 trials of SASRec on movies, about an "
        "hour on 2 cores; --only on a toy sweep there"),
    "workbench experiments run tune -j 2 --only ease.dataset=ml1m": covered(
        "tests/experiments/test_sweeps.py", "only=", "ml1m's EASE study, minutes; --only on "
        "a toy sweep there"),
    "workbench experiments run zoo -j 2 --only peers.dataset=ml1m": covered(
        "tests/experiments/test_sweeps.py", "peers.dataset=ml1m", "the ml1m peers, 16 "
        "minutes; the selector is checked on the zoo's grid there"),
    "workbench experiments run zoo --only keras.dataset=ml1m,model=mf": covered(
        "tests/experiments/test_sweeps.py", "keras.model=mf,dataset=ml1m", "one Keras model "
        "on ml1m, 3 seeds, about 45 minutes; the selector is checked there"),
    "workbench experiments run zoo --only sequential": covered(
        "tests/experiments/test_sweeps.py", "only=", "SASRec on movies, 3 seeds; --only on a "
        "toy sweep there"),
    "DASHBOARD_TEST_HOME=$PWD DASHBOARD_TEST_DATASETS='[\"ml1m\"]' pytest "
    "tests/test_dashboard_browser.py": covered(
        "tests/test_dashboard_browser.py", "DASHBOARD_TEST_DATASETS", "the browser tests "
        "themselves, on a home where the pipeline built ml1m"),
    "workbench experiments table zoo": run({"zoo": "toy_default"}, "p_vs_best"),
    "workbench experiments compare ncf_ablation --group-by dataset,model,tuned,"
    "params.early_stopping,params.negative_sampling": run({"ncf_ablation": "toy_default"},
                                                          "| toy | ease | True | True |"),
    # content.md
    "workbench content build anime --index-type hnsw --no-fusion": run(TOY, "items"),
    'workbench content search anime "time travel thriller" --dense-only': run(
        TOY, "Paradox Loop"),
    "workbench content similar movies 27205": run({"movies": "toy", "27205": "1001"},
                                                  "Paradox Loop"),
    "python benchmarks/search_ablation.py --encoder all-MiniLM-L6-v2 --encoder "
    "all-MiniLM-L6-v2+int8:128": covered("tests/test_benchmarks.py", "usage",
                                         "a benchmark on the real catalogs"),
    # datasets.md
    "workbench data add books/bookshop.yaml": covered("tests/data/test_own_dataset.py",
                                                      "bookshop", "the page's bookshop"),
    "workbench pipeline --dataset bookshop": covered("tests/test_pipeline.py", "bookshop",
                                                     PIPELINE),
    "workbench recommend --dataset bookshop --item 100 --user 1": covered(
        "tests/test_pipeline.py", "bookshop", "after the bookshop's pipeline"),
    # development.md
    "papermill notebooks/01_data_overview.ipynb /tmp/overview-anime.ipynb -p dataset anime":
        covered("tests/test_notebooks.py", "01_data_overview", "a kernel per notebook"),
    "jupyter lab notebooks/": covered("tests/test_notebooks.py", "papermill",
                                      SERVER + "; the notebooks it opens run there"),
    "nbstripout notebooks/*.ipynb": covered("tests/test_notebooks.py", "outputs",
                                            "rewrites the notebooks; their being "
                                            "stripped is checked there"),
    "pytest -m reliability --collect-only -q | tail -1": covered(
        "tests/conftest.py", "reliability", "the marker every reliability test gets"),
    "make test TEST_WORKERS=4": covered(".ci/run", "make test", "the whole suite"),
    "make test &": covered(".ci/run", "make test", "the whole suite"),
    "make setup constraints": covered(".ci/run", "make test", "re-freezes the pins from "
                                      ".venv (after a set-up, which CI does)"),
    "make screenshot": covered("tests/test_dashboard_browser.py", "DASHBOARD_SCREENSHOT",
                               "the browser test on the pipeline's artifacts"),
    "python benchmarks/cli_benchmark.py": covered("tests/test_benchmarks.py", "usage",
                                                  "a benchmark (minutes, an idle machine)"),
    "python benchmarks/dashboard_start_benchmark.py --runs 5": covered(
        "tests/test_benchmarks.py", "usage", "a benchmark (starts Voila on the real home)"),
    "python benchmarks/embedding_benchmark.py": covered("tests/test_benchmarks.py", "usage",
                                                        "a benchmark"),
    # enrich.md
    "export TMDB_API_KEY=...": covered("tests/enrich/test_coldstart.py", "TMDB",
                                       "a key of your own; a local fake there"),
    "workbench items heal --dataset anime --limit 200": covered(
        "tests/enrich/test_heal.py", "heal", "fetches from Jikan: a local fake there"),
    # hybrid.md
    "workbench recommend --dataset movies --item 603 --liked 155,27205 --alpha 0.5 --feed":
        run({"movies": "toy", "603": "1001", "155,27205": "1002,3"}, "For you"),
    "workbench franchises movies batman": run({"movies": "toy", "batman": "paradox"},
                                              "Paradox Loop"),
    "papermill notebooks/04_hybrid_evaluation.ipynb /tmp/04-anime.ipynb -p dataset anime":
        covered("tests/test_notebooks.py", "04_hybrid_evaluation", "a kernel per notebook"),
    # scale.md
    "workbench data prepare big": run({"big": "tiny"}, "prepare report for tiny"),
    "workbench collaborative train big -m ials -p factors=64 -p iterations=10": run(
        {"big": "tiny"}, "test NDCG@10"),
    "workbench collaborative train big -m ease": covered(
        "tests/collaborative/test_capacity.py", "ease", "the refusal needs a million items; "
        "the memory check runs there"),
    "python benchmarks/scale_benchmark.py": covered("tests/test_scale_benchmark.py",
                                                    "scale_benchmark", "about an hour"),
    "workbench data synth mid --items 100000 --users 50000 --interactions 1000000": run(
        SYNTH, "tiny"),
    "workbench pipeline --dataset mid": covered("tests/test_pipeline.py", '"pipeline"',
                                                PIPELINE),
    # serving.md
    "curl -s http://127.0.0.1:5050/invocations -H 'Content-Type: application/json' -d "
    "'{\"dataframe_records\": [{\"query\": \"time travel thriller\", \"user_id\": 1, \"k\": "
    "3}]}'": covered("tests/test_serving_example.py", "EXAMPLE_REQUEST",
                     "asks the server of `make serve`; the request is checked there and "
                     "tests/test_serving.py posts to a served model"),
    "python benchmarks/serving_benchmark.py --dataset anime --requests 200 --clients 4":
        covered("tests/test_benchmarks.py", "usage", "a benchmark of the served champion"),
    # sweeps.md
    "workbench experiments run experiments/movies_default.yaml": covered(
        "tests/test_pipeline.py", '"pipeline"', PIPELINE),
    "workbench experiments run movies_default -j 2 --only content-text-only --force":
        covered("tests/experiments/test_sweeps.py", "force", "a real sweep; --only and "
                "--force on a toy sweep there"),
}


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` inside quotes stays)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _key(command: str) -> str:
    """The registry key: whitespace collapsed, ``.venv/bin/`` dropped."""
    return re.sub(r"(^|\s)\.venv/bin/", r"\1", " ".join(command.split()))


def documented_commands(files: list[Path] | None = None) -> list[tuple[str, str]]:
    """(page, command) for each shell command of the docs, in order."""
    files = files or [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for block in FENCED.finditer(text):
            joined = re.sub(r"\\\n\s*", " ", block.group(2))
            for line in joined.splitlines():
                command = _strip_comment(line.removeprefix("$ "))
                if command:
                    found.append((path.name, _key(command)))
        prose = FENCED.sub("", text)
        for span in INLINE.findall(prose.replace("\n", " ")):
            found.append((path.name, _key(span)))
    return found


def test_every_documented_command_has_an_entry() -> None:
    documented = documented_commands()
    assert len(documented) > 50, "the docs' commands were not found"
    missing = sorted({f"{page}: {command}" for page, command in documented
                      if command not in COMMANDS})
    assert missing == [], ("add each to COMMANDS in tests/test_docs_commands.py: run it on "
                           "the toy home, or name the test that covers it")
    stale = sorted(set(COMMANDS) - {command for _, command in documented})
    assert stale == [], "these entries name commands the docs no longer have"


def test_a_new_command_without_an_entry_is_found(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```bash\n.venv/bin/workbench data list   # the datasets\n"
                    "workbench brand new \\\n  --option 1   # a comment\n```\n"
                    "and inline `.venv/bin/workbench settings`, `make nothing`\n")
    commands = [c for _, c in documented_commands([page])]
    assert commands == ["workbench data list", "workbench brand new --option 1",
                        "workbench settings", "make nothing"]
    assert [c for c in commands if c not in COMMANDS] == ["workbench brand new --option 1",
                                                          "make nothing"]


def test_a_bad_subcommand_option_or_target_is_found(monkeypatch) -> None:
    for command in ("workbench data list --bogus", "workbench experiments tables zoo",
                    "make serve NO_SUCH_VARIABLE=1", "make no-such-target"):
        monkeypatch.setitem(COMMANDS, command, run())
    with pytest.raises(Exception, match="No such option: --bogus"):
        test_each_entry_is_checked("workbench data list --bogus")
    with pytest.raises(AssertionError, match="no such subcommand"):
        test_each_entry_is_checked("workbench experiments tables zoo")
    for command in ("make serve NO_SUCH_VARIABLE=1", "make no-such-target"):
        with pytest.raises(AssertionError):
            test_each_entry_is_checked(command)


def _substituted(command: str, subs: dict[str, str]) -> list[str]:
    return [subs.get(word, word) for word in shlex.split(command)]


def _workbench_args(command: str) -> list[str] | None:
    words = shlex.split(command)
    while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before the program
        words.pop(0)
    return words[1:] if words and words[0] == "workbench" else None


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_entry_is_checked(command: str) -> None:
    """Statically: the command parses / the target, notebook, script or test exists."""
    import typer

    from workbench.cli import app

    entry = COMMANDS[command]
    if entry.subs is None:
        test = REPO / entry.test
        assert test.is_file(), f"{command}: no {entry.test}"
        assert entry.contains in test.read_text(), f"{entry.test} does not mention " \
                                                   f"{entry.contains!r}"
        assert entry.reason
    args = _workbench_args(command)
    words = shlex.split(command.split("|")[0].rstrip(" &"))
    if args is not None:  # typer's own click: groups are told by their subcommands
        cmd = typer.main.get_command(app)
        while hasattr(cmd, "commands") and args and args[0] in cmd.commands:
            cmd = cmd.commands[args.pop(0)]
        assert not hasattr(cmd, "commands"), f"{command}: no such subcommand"
        cmd.make_context(cmd.name, list(args))  # raises on a bad option or value
    elif words[0] == "make":
        makefile = (REPO / "Makefile").read_text()
        for word in words[1:]:
            if "=" in word:
                assert re.search(rf"^{word.split('=')[0]} \?=", makefile, re.M), word
            else:
                assert re.search(rf"^{re.escape(word)}:", makefile, re.M), word
        dry = subprocess.run(["make", "-n", "-o", ".venv/.installed-stamp", *words[1:]],
                             cwd=REPO, capture_output=True, text=True, check=False)
        assert dry.returncode == 0, dry.stderr
    elif words[0] == "papermill":
        from workbench.experiments import declared_parameters

        declared = declared_parameters(REPO / words[1])
        names = [words[i + 1] for i, w in enumerate(words) if w == "-p"]
        assert names and set(names) <= set(declared), f"{command}: undeclared {names}"
    elif words[0] == "python":
        assert (REPO / words[1]).is_file()
    elif words[0] == "export":
        from workbench.settings import Settings

        name = words[1].split("=")[0]
        fields = {f"WORKBENCH_{f.upper()}" for f in Settings.model_fields}
        assert name in fields or name in (REPO / "workbench" / "enrich" /
                                          "providers.py").read_text(), name
    else:
        assert entry.subs is None, f"{command}: only workbench and make commands run here"


@pytest.fixture(scope="module")
def docs_home(toy_home, tmp_path_factory):
    """A toy home (champion EASE) whose MLflow store holds what a toy_default sweep leaves:
    a parent run and the latest run of each zoo variant."""
    from workbench import tracking
    from workbench.experiments.bookkeeping import TAG_SWEEP, TAG_SWEEP_PARENT, TAG_VARIANT

    home = toy_home("docs-commands", "ease")
    with tracking.start_run("toy-default", run_name="toy_default",
                            tags={TAG_SWEEP: "toy_default", TAG_SWEEP_PARENT: "true"},
                            settings=home):
        pass
    for model, value in (("ease", 0.31), ("itemknn", 0.27)):
        tags = {TAG_SWEEP: "toy_default", TAG_VARIANT: f"zoo.model={model}"}
        params = {"dataset": "toy", "model": model, "tuned": True,
                  "params": {"early_stopping": True, "negative_sampling": "uniform"}}
        with tracking.start_run("toy-default", params=params, tags=tags, settings=home):
            tracking.log_metrics({"val_full_ndcg_at_10": value, "test_full_ndcg_at_10": value,
                                  "genre_precision_at_10": 0.5})
    return home


@pytest.mark.integration
def test_the_runnable_commands_run_on_a_toy_home(docs_home, monkeypatch) -> None:
    """Each :func:`run` entry, in the docs' order, through the CLI in-process (``make``
    ones through make)."""
    from workbench.cli import app
    from workbench.settings import get_settings

    monkeypatch.setenv("WORKBENCH_HOME", str(docs_home.home))
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(docs_home.data_mirror))
    get_settings.cache_clear()
    failures, done = [], set()
    try:
        for page, command in documented_commands():
            entry = COMMANDS.get(command)
            if entry is None or entry.subs is None or command in done:
                continue
            done.add(command)
            args = _substituted(command, entry.subs)
            if args[0] == "make":  # the venv is there: this test runs in it
                proc = subprocess.run([*args, "-o", ".venv/.installed-stamp"], cwd=REPO,
                                      capture_output=True, text=True, check=False)
                code, output = proc.returncode, proc.stdout + proc.stderr
            else:
                result = runner.invoke(app, args[1:])
                code, output = result.exit_code, result.output
            missing = [e for e in entry.expect if e not in output]
            if code != 0 or missing or "Traceback" in output:
                failures.append(f"{page}: {' '.join(args)} -> exit {code}, missing {missing}:"
                                f"\n{output[-1500:]}")
    finally:
        get_settings.cache_clear()
    assert done, "nothing ran"
    assert failures == [], "\n\n".join(failures)
