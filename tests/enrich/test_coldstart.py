"""Cold start: an item fetched from a (fake) provider is searchable at once, saved atomically,
survives a restart and a rebuild; concurrent adds and a killed save corrupt nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from tests.enrich.fake_servers import FakeServer, tmdb_routes
from tests.helpers import REPO
from workbench import data
from workbench.content import (
    ContentConfig,
    VectorIndex,
    build_content_index,
    load_content_engine,
)
from workbench.content.engine import IndexChangedError
from workbench.enrich import TMDBProvider
from workbench.enrich.coldstart import ColdStartError, add_item
from workbench.settings import Settings


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Settings:
    home = tmp_path_factory.mktemp("coldstart-home")
    settings = Settings(home=home, data_mirror=home / "none")
    data.prepare("toy", settings)
    build_content_index(ContentConfig(dataset="toy", ae_epochs=5), settings, progress=False)
    return settings


@pytest.fixture
def tmdb(toy):
    with FakeServer(tmdb_routes) as server:
        yield TMDBProvider(Settings(home=toy.home, data_mirror=toy.data_mirror,
                                    tmdb_url=f"{server.url}/3"), api_key="test-key")


def test_added_item_is_searchable_at_once_and_survives_restart_and_rebuild(toy, tmdb) -> None:
    engine = load_content_engine("toy", toy)
    result = add_item(engine, "Inception", 2010, provider=tmdb, settings=toy)
    assert (result.item_id, result.year, result.provider) == (27205, 2010, "TMDB")
    top = engine.search("a thief steals corporate secrets through dream-sharing", k=3)
    assert top["item_id"].iloc[0] == 27205  # before the save has finished
    assert result.saved.result(timeout=60).name == "index.npz"
    restarted = load_content_engine("toy", toy)
    assert 27205 in restarted.index and restarted.items.loc[27205, "title"] == "Inception"
    assert restarted.items.loc[27205, "genres"] == ["Action"]
    assert len(restarted.items) == len(data.load_items("toy", toy)) + 1
    with pytest.raises(ColdStartError, match="already in the toy catalog as item 27205"):
        add_item(restarted, "Inception", 2010, provider=tmdb, settings=toy)
    rebuilt, _ = build_content_index(ContentConfig(dataset="toy", ae_epochs=5), toy,
                                     encoder=restarted.encoder, progress=False)
    assert 27205 in rebuilt.index  # a rebuild keeps the added items


def test_two_adds_at_once_keep_both(toy, tmdb) -> None:
    engine = load_content_engine("toy", toy)
    results, errors = [], []

    def add(title, year):
        try:
            results.append(add_item(engine, title, year, provider=tmdb, settings=toy))
        except Exception as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=a) for a in (("The Thing", 1982),
                                                               ("The Thing", 2011))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 2
    for r in results:
        r.saved.result(timeout=60)
    reloaded = load_content_engine("toy", toy)
    assert {1091, 60935} <= set(reloaded.index.item_ids.tolist())


@pytest.mark.reliability
def test_a_killed_save_leaves_the_previous_index_loadable(toy) -> None:
    path = toy.index_file("toy")
    before = VectorIndex.load(path)
    script = textwrap.dedent(f"""
        import numpy as np
        from pathlib import Path
        from workbench.content import VectorIndex
        index = VectorIndex.load(Path({str(path)!r}))
        big = np.random.default_rng(0).random((200_000, index.vectors.shape[1]), np.float32)
        index.add(big, np.arange(10**9, 10**9 + len(big)))
        print("ready", flush=True)
        while True:
            index.save(Path({str(path)!r}))
    """)
    for delay in (0.2, 0.5, 0.9):
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.kill()
        proc.wait()
        loaded = VectorIndex.load(path)  # never a half-written file
        assert len(loaded) in (len(before), len(before) + 200_000)
        if len(loaded) == len(before):
            assert np.array_equal(loaded.item_ids, before.item_ids)
    before.save(path)  # leave the toy index as it was for the other tests


def test_items_add_command(toy, monkeypatch) -> None:
    from typer.testing import CliRunner

    from workbench.cli import app
    from workbench.settings import get_settings

    with FakeServer(tmdb_routes) as server:
        monkeypatch.setenv("WORKBENCH_HOME", str(toy.home))
        monkeypatch.setenv("WORKBENCH_TMDB_URL", f"{server.url}/3")
        monkeypatch.delenv("TMDB_API_KEY", raising=False)
        get_settings.cache_clear()
        runner = CliRunner()
        try:
            # the toy catalog has no provider: its engine is reached through TMDB in tests
            monkeypatch.setattr("workbench.enrich.coldstart.provider_for",
                                lambda _ds, settings=None: TMDBProvider(settings))
            missing = runner.invoke(app, ["items", "add", "-d", "toy", "--title", "Alien"])
            assert missing.exit_code == 1 and "TMDB_API_KEY is not set" in missing.output
            monkeypatch.setenv("TMDB_API_KEY", "test-key")
            added = runner.invoke(app, ["items", "add", "-d", "toy", "--title", "Alien",
                                        "--year", "1979"])
            assert added.exit_code == 0, added.output
            assert "added Alien (1979) as item 348 from TMDB" in added.output
        finally:
            get_settings.cache_clear()


def test_two_engines_saving_at_once_keep_both_items(toy) -> None:
    """Two processes' views of one index file: each adds an item and saves; both survive."""
    from workbench.enrich import ItemMetadata
    class Stub:
        name = "Stub"

        def find(self, title, year=None):
            number = {"Lighthouse Keeper": 900001, "Orbit Station": 900002}[title]
            return ItemMetadata(provider="Stub", provider_id=number, title=title, year=2020,
                                text=f"The story of the {title.lower()}.", genres=["Drama"])

    first, second = load_content_engine("toy", toy), load_content_engine("toy", toy)
    add_item(first, "Lighthouse Keeper", provider=Stub(), settings=toy, background=False)
    add_item(second, "Orbit Station", provider=Stub(), settings=toy, background=False)
    assert 900001 in second.index  # the second save took in the first one's item
    reloaded = load_content_engine("toy", toy)
    assert {900001, 900002} <= set(reloaded.index.item_ids.tolist())
    assert reloaded.items.loc[900001, "title"] == "Lighthouse Keeper"
    assert reloaded.search("the story of the lighthouse keeper", k=1)["item_id"][0] == 900001


def test_an_engine_older_than_a_rebuild_does_not_overwrite_it(toy) -> None:
    from workbench.enrich import ItemMetadata

    class Stub:
        name = "Stub"

        def find(self, title, year=None):
            return ItemMetadata(provider="Stub", provider_id=900003, title=title, year=2021,
                                text="A quiet film about bees.", genres=["Drama"])

    stale = load_content_engine("toy", toy)
    build_content_index(ContentConfig(dataset="toy", ae_epochs=5), toy, encoder=stale.encoder,
                        progress=False)
    with pytest.raises(IndexChangedError, match="rebuilt since this engine loaded it"):
        add_item(stale, "Bee Season", provider=Stub(), settings=toy, background=False)
    assert 900003 not in load_content_engine("toy", toy).index  # the rebuild stands


def test_an_empty_title_is_a_clear_error(toy, tmdb) -> None:
    engine = load_content_engine("toy", toy)
    for title in ("", "   "):
        with pytest.raises(ColdStartError, match="empty title"):
            add_item(engine, title, provider=tmdb, settings=toy)
