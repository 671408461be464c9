"""Damaged artifacts are named, never trusted, and rebuilt by what `make pipeline` runs.

Each file is damaged three ways (truncated, garbled, emptied), as a killed disk write or a bad
copy leaves it; the check the pipeline uses must call it stale, loading must give one clear
error (no library traceback), and the pipeline's step must repair it so the next search
answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench import WorkbenchError, data
from workbench.content import (
    ContentConfig,
    build_content_index,
    index_is_current,
    load_content_engine,
)
from workbench.content.index import ContentIndexError
from workbench.settings import Settings

pytestmark = pytest.mark.integration

DAMAGE = {
    "truncated": lambda b: b[: len(b) // 2],
    "garbled": lambda b: b[:64] + bytes(255 - x for x in b[64:]),
    "emptied": lambda b: b"",
}
QUERY = "a physicist travels back in time"


@pytest.fixture(scope="module")
def toy(toy_home) -> Settings:
    return toy_home("damaged-home", "ease")


def _damage(path: Path, how: str) -> None:
    path.write_bytes(DAMAGE[how](path.read_bytes()))


CONFIG = ContentConfig(dataset="toy", ae_epochs=5)


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_index_is_stale_named_and_rebuilt(toy, how) -> None:
    assert index_is_current(CONFIG, toy)
    _damage(toy.models_dir / "toy" / "content" / "index.npz", how)
    assert not index_is_current(CONFIG, toy)  # the pipeline rebuilds instead of "up to date"
    with pytest.raises(ContentIndexError, match=r"index\.npz"):
        load_content_engine("toy", toy)
    build_content_index(CONFIG, toy, progress=False)
    assert index_is_current(CONFIG, toy)
    assert len(load_content_engine("toy", toy).search(QUERY, 3)) == 3


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_embedding_cache_is_set_aside_and_rebuilt(toy, how) -> None:
    folder = toy.models_dir / "cache" / "embeddings-all-MiniLM-L6-v2+int8-fused"
    shards = sorted(folder.glob("shard-*.npz"))
    assert shards
    for shard in shards:
        _damage(shard, how)
    engine, report = build_content_index(CONFIG, toy, progress=False)
    assert report.embedding.embedded == report.items  # every text embedded again
    assert all(s.with_name(s.name + ".corrupt").is_file() for s in shards)
    assert len(engine.search(QUERY, 3)) == 3
    _, again = build_content_index(CONFIG, toy, progress=False)
    assert again.embedding.embedded == 0  # the rebuilt cache serves the next build


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_split_is_named_and_prepare_repairs_it(toy, how) -> None:
    _damage(toy.processed_dir("toy") / "splits" / "leave_last_out.parquet", how)
    with pytest.raises(WorkbenchError, match=r"damaged split file.*workbench data prepare"):
        data.load_split("toy", "leave_last_out", toy)
    data.prepare("toy", toy)  # what the pipeline runs first, every time
    assert len(data.load_split("toy", "leave_last_out", toy).test) > 0


@pytest.mark.parametrize("name", ["model.npz", "ids.npz", "config.json"])
def test_a_damaged_champion_copy_is_named(toy, name) -> None:
    from workbench.collaborative import CollaborativeError, CollaborativeModel

    folder = toy.champion_dir("toy")
    target = next(folder.glob(name), None) or next(folder.glob("*.npz"))
    saved = target.read_bytes()
    try:
        _damage(target, "truncated")
        with pytest.raises(CollaborativeError):
            CollaborativeModel.load(folder)
    finally:
        target.write_bytes(saved)
    assert CollaborativeModel.load(folder) is not None



def _register(settings: Settings) -> None:
    """The champion registered in MLflow as `make pipeline`'s sweep leaves it."""
    import mlflow

    from workbench import tracking

    with tracking.start_run("collaborative", settings=settings) as run:
        mlflow.log_artifacts(str(settings.champion_dir("toy")), "model")
    client = mlflow.MlflowClient(settings.mlflow_uri)
    client.create_registered_model("toy-collaborative")
    version = client.create_model_version(
        "toy-collaborative", f"{run.info.artifact_uri}/model", run.info.run_id)
    client.set_registered_model_alias("toy-collaborative", "champion", version.version)


@pytest.fixture(scope="module")
def registered(toy, toy_home):
    """A registered toy champion per model kind: EASE (npz files) and MF (model.keras)."""
    homes: dict[str, Settings] = {}

    def home(kind: str) -> Settings:
        if kind not in homes:
            settings = toy if kind == "ease" else toy_home(f"damaged-{kind}", kind)
            _register(settings)
            homes[kind] = settings
        return homes[kind]

    return home


@pytest.mark.parametrize(("kind", "name"), [("ease", "weights.npz"), ("ease", "ids.npz"),
                                            ("ease", "config.json"), ("mf", "model.keras")])
def test_the_pipeline_replaces_a_damaged_champion_copy(registered, kind, name) -> None:
    """`make pipeline` ends each dataset with `sync_champion`: a copy that does not load is
    not "already in" models/; the registry's version is copied again and loads."""
    from workbench.collaborative import CollaborativeModel
    from workbench.collaborative.champion import sync_champion

    settings = registered(kind)
    folder = settings.champion_dir("toy")
    assert "already in" in sync_champion("toy", settings)
    _damage(folder / name, "garbled" if name != "config.json" else "truncated")
    assert "copied" in sync_champion("toy", settings)
    assert CollaborativeModel.load(folder) is not None
