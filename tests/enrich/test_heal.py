"""Self-healing item details against a fake Jikan server: gaps, patches with their source,
reuse without new requests, lookup by title when the id is unknown, offline."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.enrich.fake_servers import FakeServer, jikan_routes
from workbench.enrich import JikanProvider, ProviderError
from workbench.enrich.heal import PatchStore, catalog_gaps, heal_items
from workbench.settings import Settings


def _items() -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": [9253, 32188, 555],
        "title": ["Steins;Gate", "Steins;Gate 0", "Steins;Gate 0"],
        "year": pd.array([2011, None, 2018], dtype="Int64"),
        "text": [None, "An alternate timeline.", None],
        "poster_url": [None, "https://x/y.jpg", None],
        "vote_average": [None, 8.5, 8.5],
    })


@pytest.fixture
def jikan(tmp_path):
    with FakeServer(jikan_routes) as server:
        settings = Settings(home=tmp_path, data_mirror=tmp_path / "none",
                            jikan_url=f"{server.url}/v4", provider_retries=1)
        yield server, JikanProvider(settings), settings


def test_gaps_are_counted_per_field() -> None:
    gaps = catalog_gaps(_items()).set_index("item_id")
    assert gaps.loc[9253, "missing"] == ["poster_url", "text", "vote_average"]
    assert gaps.loc[32188, "missing"] == ["year"]
    assert gaps.loc[555, "missing"] == ["poster_url", "text"]


def test_heal_patches_records_sources_and_reuses(jikan) -> None:
    server, provider, settings = jikan
    store = PatchStore.for_dataset("anime", settings)
    report = heal_items(_items(), provider, store, progress=False)
    assert report.looked_up == 3 and report.fields_patched == {
        "poster_url": 2, "text": 2, "vote_average": 1, "year": 1}
    patch = store.patched(9253)
    assert patch["text"]["value"].startswith("A self-proclaimed mad scientist")
    assert patch["text"]["source"] == "Jikan:9253" and patch["vote_average"]["value"] == 9.07
    assert store.patched(555)["text"]["source"] == "Jikan:32188"  # unknown id: found by title
    healed = PatchStore.for_dataset("anime", settings).apply(_items())  # reloaded from disk
    assert catalog_gaps(healed).empty
    assert healed.loc[1, "year"] == 2018 and healed.loc[1, "text"] == "An alternate timeline."
    served = len(server.requests)
    again = heal_items(_items(), provider, PatchStore.for_dataset("anime", settings),
                       progress=False)
    assert again.items_with_gaps == 0 and len(server.requests) == served


@pytest.mark.reliability
def test_offline_stops_with_one_line_and_keeps_what_was_found(tmp_path) -> None:
    settings = Settings(home=tmp_path, data_mirror=tmp_path / "none",
                        jikan_url="http://127.0.0.1:9/v4", provider_retries=0)
    store = PatchStore.for_dataset("anime", settings)
    with pytest.raises(ProviderError, match=r"Jikan is unreachable \(offline\?\)"):
        heal_items(_items(), JikanProvider(settings), store, progress=False)
    assert store.path.is_file()


def test_heal_report_command(workbench_env) -> None:
    from workbench import data
    from workbench.cli import app

    data.prepare("toy", workbench_env)
    result = CliRunner().invoke(app, ["items", "heal", "-d", "toy", "--report"])
    assert result.exit_code == 0, result.output
    assert "toy: 50 of 50 items have gaps: poster_url 50" in result.output
    fetch = CliRunner().invoke(app, ["items", "heal", "-d", "toy"])
    assert fetch.exit_code == 1 and "no metadata provider for dataset 'toy'" in fetch.output


def test_a_server_error_is_asked_again_later(jikan) -> None:
    server, provider, settings = jikan
    server.script["/v4/anime/9253"] = [{"status": 503, "body": "down"}]
    store = PatchStore.for_dataset("anime", settings)
    report = heal_items(_items().head(1), provider, store, progress=False)
    assert report.looked_up == 0 and "HTTP 503" in report.errors[0]
    assert not store.checked(9253)  # not remembered as unfillable
    server.script.clear()
    again = heal_items(_items().head(1), provider, store, progress=False)
    assert again.looked_up == 1 and store.patched(9253)["text"]["source"] == "Jikan:9253"


@pytest.mark.reliability
def test_concurrent_heals_keep_every_patch(tmp_path) -> None:
    """Two stores of one dataset (two processes healing disjoint items) saving in turns keep
    all 60 patches; the last writer does not drop the other's."""
    import threading

    path = tmp_path / "patches" / "anime.json"
    first, second = PatchStore(path), PatchStore(path)

    def heal(store: PatchStore, ids: range) -> None:
        for item_id in ids:
            store.record(item_id, {"year": 2000 + item_id % 20}, "test")
            store.save()

    threads = [threading.Thread(target=heal, args=(first, range(0, 30))),
               threading.Thread(target=heal, args=(second, range(100, 130)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    saved = PatchStore(path)
    assert len(saved.data) == 60
    assert saved.patched(105)["year"]["value"] == 2005


@pytest.mark.reliability
def test_a_patch_file_of_the_wrong_shape_is_named(tmp_path) -> None:
    from workbench import WorkbenchError

    path = tmp_path / "anime.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(WorkbenchError, match="not a JSON object of item ids"):
        PatchStore(path)


@pytest.mark.parametrize("content", [
    '{"abc": {"fields": {"year": {"value": 1999}}}}',            # a key that is no item id
    '{"1": {"fields": null}}',                                   # fields not an object
    '{"1": {"fields": {"year": {"value": "abc"}}}}',             # a year that is text
    '{"1": {"fields": {"year": {"value": 99999}}}}',             # a year out of range
    '{"1": {"fields": {"vote_average": {"value": 1e30}}}}',      # a vote out of range
    '{"1": {"fields": {"year": 1999}}}',                         # a value without its record
    '{"1": "nonsense"}',
])
def test_malformed_patch_entries_are_skipped_not_applied(tmp_path, content, caplog) -> None:
    import pandas as pd

    path = tmp_path / "anime.json"
    path.write_text(content)
    items = pd.DataFrame({"item_id": [1], "title": ["A"], "text": [None],
                          "year": pd.array([None], dtype="Int64"), "vote_average": [None],
                          "poster_url": [None]})
    patched = PatchStore(path).apply(items)
    assert patched["year"].isna().all() and patched["vote_average"].isna().all()
    assert "malformed entries or values skipped" in caplog.text
