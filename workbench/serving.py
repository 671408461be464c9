"""The hybrid recommender as an MLflow model: logged, registered and served by MLflow.

:func:`log_hybrid` packs what a :class:`~workbench.hybrid.Recommender` needs as artifacts
(a folder laid out like a workbench home: the dataset's prepared tables and patches, its
content index, the collaborative champion, the int8 encoder graph), with a signature and an
input example, and registers it as ``<dataset>-hybrid`` with the ``champion`` alias. No
project object is pickled: the artifacts are the files the project writes anyway, and the
model class is loaded from this module. ``mlflow models serve -m
models:/<dataset>-hybrid@champion --env-manager local`` (``make serve``) then answers HTTP.

One request is one input row: ``query`` (at most :data:`MAX_QUERY_CHARS`) or ``item_id`` (not
both), ``user_id`` or ``liked`` (comma-separated item ids: a new user), and optional ``k``
(10), ``alpha``, ``max_per_franchise`` and ``box``: ``content`` (the content match),
``ai_pick``, ``both`` (the default: content match and AI pick; AI pick needs a user) or
``feed`` ("For you"). The answer has one row per result: ``request`` (the input row's
position), ``box``, ``rank``, ``item_id``, ``title``, ``year``, ``genres``, ``similarity``,
``preference``, ``score`` and ``reason`` (at most :data:`MAX_REASON_CHARS`; a missing year,
similarity or preference is null). A bad request (an unknown field or user, an empty or too
long query, a bad option, ``k`` true or NaN) is an ``INVALID_PARAMETER_VALUE`` error
(:class:`RequestError`) naming the field in one line, which MLflow's server answers with
HTTP 400 and that line as its ``message``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from workbench import WorkbenchError
from workbench.collaborative.champion import ALIAS
from workbench.errors import check_k
from workbench.settings import Settings, get_settings

BOXES = ("content", "ai_pick", "both", "feed")
OUTPUT_COLUMNS = ["request", "box", "rank", "item_id", "title", "year", "genres",
                  "similarity", "preference", "score", "reason", "cosine",
                  "preference_percentile"]
INPUTS = {"query": "string", "item_id": "any", "user_id": "any", "liked": "any",
          "k": "any", "alpha": "any", "max_per_franchise": "any", "box": "string"}
"""The fields of a request, and their types (the input example shows them). The model is
logged without an input schema, so that MLflow hands every field over and a misspelt one is
refused by name instead of dropped (MLflow drops fields its schema does not name);
:func:`answer` checks each value itself."""
MAX_QUERY_CHARS = 1_000
"""The longest ``query`` answered: a plot description, not a document (a longer one is
refused by name, before any work)."""
MAX_FIELD_CHARS = 10_000
"""The longest text any other field may be (``liked``: some 1,400 ids)."""
MAX_LIKED = 1_000
"""The most item ids ``liked`` may name as a list."""
MAX_REASON_CHARS = 200
"""The longest ``reason`` in an answer (a content match's quotes the query: cut, with …)."""
SERVING_FORMAT = "3"
"""The request handling a registered version was logged for (2: no input schema, unknown
fields refused); a version of another format is logged again by :func:`log_hybrid`."""
SERVING_FILE = "serving.json"
EXPERIMENT = "hybrid-serving"
"""The MLflow experiment of the registration runs."""


class ServingError(WorkbenchError):
    """A request the served model cannot answer; the message names the field."""


class RequestError(MlflowException):
    """A bad request as MLflow's ``INVALID_PARAMETER_VALUE`` (HTTP 400) whose message stays
    the one line :func:`answer` wrote: MLflow's scoring server would put the whole request in
    front of it (``Failed to predict data '<the frame>'. \nError: ...``, several lines, and
    as long as the request); that rewrite is ignored."""

    def __init__(self, line: str) -> None:
        super().__init__(line, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        return self._line

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_line"):  # set once, by MlflowException.__init__
            self._line = " ".join(str(value).split())


def _shown(value: Any) -> str:
    """``repr(value)``, cut to 60 characters: an error line never echoes a huge value."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _is_nan(value: Any) -> bool:
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


def _value(record: dict, name: str) -> Any:
    """The field's value; None when left out, null, or blank text (but a blank query, which
    is refused by name). NaN is a value (refused where a number is due): :func:`requests`
    drops the NaN that stands for a field a batch's other rows give and this one does not."""
    value = record.get(name)
    if isinstance(value, str):
        limit = MAX_QUERY_CHARS if name == "query" else MAX_FIELD_CHARS
        if len(value) > limit:
            raise ServingError(f"{name} is {len(value):,} characters long; the limit is "
                               f"{limit:,} (got {_shown(value)})")
        if not value.strip() and name != "query":
            return None
    return value


def _whole(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_) or _is_nan(value):
        raise ServingError(f"{name} must be a whole number, got {_shown(value)}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ServingError(f"{name} must be a whole number, got {_shown(value)}") from None
    if not number.is_integer() or abs(number) > 2**53:
        raise ServingError(f"{name} must be a whole number, got {_shown(value)}")
    return int(number)


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_) or _is_nan(value):
        raise ServingError(f"{name} must be a number, got {_shown(value)}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise ServingError(f"{name} must be a number, got {_shown(value)}") from None


def _text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ServingError(f"{name} must be text, got {_shown(value)}")


def _liked(text: Any) -> list[int] | None:
    from workbench.hybrid.users import parse_liked

    if text is None:
        return None
    if isinstance(text, list | tuple | np.ndarray) and len(text) > MAX_LIKED:
        raise ServingError(f"liked names {len(text):,} items; the limit is {MAX_LIKED:,}")
    try:
        return parse_liked(text)
    except WorkbenchError:
        raise ServingError(f"liked must be comma-separated item ids, got {_shown(text)}"
                           ) from None


def _unknown_fields(record: dict) -> None:
    unknown = [str(name) for name in record if name not in INPUTS]
    if unknown:
        raise ServingError(f"unknown field(s) {', '.join(map(_shown, unknown))}; a request's "
                           f"fields are {', '.join(INPUTS)}")


def _reason(text: Any) -> Any:
    """A reason line cut to :data:`MAX_REASON_CHARS` (a content match quotes the query)."""
    if not isinstance(text, str) or len(text) <= MAX_REASON_CHARS:
        return text
    return text[:MAX_REASON_CHARS - 1] + "…"


def requests(frame: pd.DataFrame) -> list[dict]:
    """The input rows as request dicts holding only the fields each row gives.

    A batch's records become one frame, where a field one row gives and another leaves out is
    NaN in the other; that NaN (and null) is dropped. A field that is NaN in every row was sent
    as NaN (a one-row request, or every row of a batch): it is kept, and refused by name."""
    frame = pd.DataFrame(frame)
    sent_nan = {c for c in frame.columns
                if len(frame) and frame[c].map(_is_nan).all()}
    return [{name: value for name, value in row.items()
             if value is not None and (not _is_nan(value) or name in sent_nan)}
            for row in frame.to_dict("records")]


def answer(recommender, record: dict, position: int = 0) -> pd.DataFrame:
    """The result rows of one request (see the module docstring)."""
    _unknown_fields(record)
    box = _text(_value(record, "box"), "box") or "both"
    if box not in BOXES:
        raise ServingError(f"box must be one of {', '.join(BOXES)}, got {_shown(box)}")
    query = _text(_value(record, "query"), "query")
    user_id, liked = _value(record, "user_id"), _liked(_value(record, "liked"))
    k = _whole(_value(record, "k"), "k")
    k = 10 if k is None else k
    check_k(k, ServingError)
    alpha = _number(_value(record, "alpha"), "alpha")
    options = {"max_per_franchise": _whole(_value(record, "max_per_franchise"),
                                           "max_per_franchise")}
    options = {name: v for name, v in options.items() if v is not None}
    item_id, user_id = _whole(_value(record, "item_id"), "item_id"), _whole(user_id, "user_id")
    has_user = user_id is not None or liked is not None
    if box != "feed" and query is None and item_id is None:
        raise ServingError("give query (free text) or item_id (more like this)")
    if box == "ai_pick" and not has_user:
        raise ServingError("ai_pick needs user_id or liked")
    frames = []
    if box in ("content", "both"):
        frames.append(("content", recommender.content_match(query, item_id, k, **options)))
    if box == "ai_pick" or (box == "both" and has_user):
        frames.append(("ai_pick", recommender.ai_pick(
            query, item_id, user_id, k, alpha, liked=liked, **options)))
    if box == "feed":
        frames.append(("feed", recommender.personalized_feed(user_id, k, liked=liked,
                                                             **options)))
    out = []
    for name, result in frames:
        frame = result.frame.drop(columns=["franchise"], errors="ignore").copy()
        frame.insert(0, "box", name)
        frame.insert(0, "request", position)
        out.append(frame)
    rows = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=OUTPUT_COLUMNS)
    rows["genres"] = rows["genres"].map(lambda g: ", ".join(g) if len(g) else "")
    rows["reason"] = rows["reason"].map(_reason)
    rows["year"] = rows["year"].astype("float64")
    for column in ("year", "similarity", "preference", "cosine", "preference_percentile"):
        # JSON has no NaN: missing is null
        rows[column] = rows[column].astype(object).where(rows[column].notna(), None)
    return rows[OUTPUT_COLUMNS]


class HybridModel(mlflow.pyfunc.PythonModel):
    """The MLflow pyfunc model: loads a Recommender from its artifacts, answers requests."""

    def load_context(self, context) -> None:
        from workbench.hybrid import Recommender

        home = Path(context.artifacts["home"])
        facts = json.loads((home / SERVING_FILE).read_text())
        settings = served_settings(home)
        self.dataset = facts["dataset"]
        self.recommender = Recommender.load(self.dataset, settings, collaborative=ALIAS)
        self.recommender.warm_up()  # the first request is as fast as the next ones

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        try:
            frames = [answer(self.recommender, r, n)
                      for n, r in enumerate(requests(model_input))]
        except WorkbenchError as exc:
            raise RequestError(str(exc)) from None
        if not frames:
            return pd.DataFrame(columns=OUTPUT_COLUMNS)
        return pd.concat(frames, ignore_index=True)


def signature():
    """The output columns; no input schema (see :data:`INPUTS`)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    outputs = {"request": "long", "box": "string", "rank": "long", "item_id": "long",
               "title": "string", "year": "double", "genres": "string",
               "similarity": "double", "preference": "double", "score": "double",
               "reason": "string", "cosine": "double", "preference_percentile": "double"}
    return ModelSignature(outputs=Schema([ColSpec(t, n) for n, t in outputs.items()]))


def serving_facts(dataset: str, settings: Settings) -> dict[str, str]:
    """The identity of what serving ``dataset`` would pack (champion version and run, index
    build time), read from the files in place: an unchanged alias is told without copying."""
    from workbench.collaborative.champion import champion_info
    from workbench.content.index import VectorIndex
    from workbench.data.registry import get_dataset

    get_dataset(dataset, settings)  # an unknown name is an error that lists the known ones
    champion = settings.champion_dir(dataset)
    if not champion.is_dir():
        raise ServingError(f"no collaborative champion in {champion}; run `make pipeline`")
    manifest = VectorIndex.read_manifest(settings.index_file(dataset))
    info = champion_info(dataset, settings) or {}
    return {"dataset": dataset, "champion_version": str(info.get("version", "")),
            "champion_run": str(info.get("run_id", "")),
            "index_created_at": str(manifest.created_at if manifest else ""),
            "serving_format": SERVING_FORMAT}


def stage_home(dataset: str, settings: Settings, folder: Path,
               facts: dict[str, str]) -> None:
    """Copy what serving ``dataset`` needs into ``folder`` (laid out like a home: the
    settings of :func:`served_settings`), with ``facts`` (:func:`serving_facts`) as its
    serving file."""
    staged = served_settings(folder)
    pairs = [(settings.processed_dir(dataset), staged.processed_dir(dataset)),
             (settings.content_dir(dataset), staged.content_dir(dataset)),
             (settings.champion_dir(dataset), staged.champion_dir(dataset))]
    for source, target in pairs:
        if not source.is_dir():
            raise ServingError(f"{source} is missing; run `make pipeline`")
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.lock", "*.corrupt",
                                                                    "embeddings*"))
    graph = _encoder_graph(dataset, settings)
    copies = [(settings.patches_file(dataset), staged.patches_file(dataset)),
              (settings.spec_file(dataset), staged.spec_file(dataset))]
    if graph is not None:  # the int8 graph the index was built with, not older revisions
        copies.append((graph, staged.encoder_cache / graph.name))
    for source, target in copies:
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (folder / SERVING_FILE).write_text(json.dumps(facts))


def served_settings(home: Path) -> Settings:
    """The settings of a served model's home (what :func:`stage_home` wrote): every folder
    under ``home`` whatever ``WORKBENCH_*`` variables or ``.env`` say, no data mirror, the int8
    graph in ``encoder/``, in-memory stores (nothing to log)."""
    return Settings(home=home, data_dir=home / "data", models_dir=home / "models",
                    experiments_dir=home / "experiments", datasets_dir=home / "datasets",
                    encoder_cache=home / "encoder", data_mirror=home / "no-mirror",
                    mlflow_uri="sqlite:///:memory:", optuna_uri="sqlite:///:memory:")


def _encoder_graph(dataset: str, settings: Settings) -> Path | None:
    """The int8 graph file the dataset's index is queried with (built here when missing),
    or None for an fp32 index (its model comes from the installed package)."""
    from workbench.content.embeddings import INT8, TextEncoder
    from workbench.content.index import VectorIndex

    manifest = VectorIndex.read_manifest(settings.index_file(dataset))
    if manifest is None:
        raise ServingError(f"{dataset} has no readable content index; run `make pipeline`")
    if not manifest.embedding_model.endswith(INT8):
        return None
    encoder = TextEncoder(manifest.embedding_model, onnx_dir=settings.encoder_cache)
    if not encoder.onnx_path.is_file():
        encoder.encode(["build the graph"])
    return encoder.onnx_path


def log_hybrid(dataset: str, settings: Settings | None = None, force: bool = False,
               quiet_log: Path | None = None) -> str:
    """Log the dataset's hybrid recommender as an MLflow model and register it as
    ``<dataset>-hybrid`` with the ``champion`` alias, unless the alias already holds the same
    champion and index (``force`` logs anyway). Returns what happened, in words. With
    ``quiet_log``, what MLflow and TensorFlow print while logging goes to that file
    (:func:`workbench.console.output_to`), not the terminal."""
    from workbench.console import output_to

    with output_to(quiet_log) if quiet_log is not None else nullcontext():
        return _log_hybrid(dataset, settings, force)


def _log_hybrid(dataset: str, settings: Settings | None, force: bool) -> str:
    from workbench import tracking

    settings = settings or get_settings()
    tracking.configure(settings)
    tracking.mark_abandoned_runs(EXPERIMENT, settings)  # a registration killed before
    name = f"{dataset}-hybrid"
    client = mlflow.MlflowClient()
    facts = serving_facts(dataset, settings)
    current = tracking.alias_version(name, ALIAS, settings)
    if current is not None and not force and all(
            current.tags.get(k) == v for k, v in facts.items()):
        return f"{name} v{current.version} serves this champion and index already"
    with tempfile.TemporaryDirectory(prefix="hybrid-") as tmp:
        home = Path(tmp) / "home"
        stage_home(dataset, settings, home, facts)
        example = pd.DataFrame([{"query": "time travel thriller", "k": 5, "box": "content"}])
        with tracking.start_run(EXPERIMENT, run_name=f"{dataset}-hybrid",
                                params={"dataset": dataset}, settings=settings,
                                tags={tracking.TAG_RUNNER: tracking.runner_id()}):
            info = mlflow.pyfunc.log_model(
                name="hybrid", python_model=str(Path(__file__).with_name("serving_entry.py")),
                artifacts={"home": str(home)},
                signature=signature(), input_example=example,
                registered_model_name=name)
        version = info.registered_model_version
        for key, value in facts.items():
            client.set_model_version_tag(name, version, key, value)
        client.set_registered_model_alias(name, ALIAS, version)
    return f"{name} v{version} registered as champion"
