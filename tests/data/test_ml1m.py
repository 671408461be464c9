"""MovieLens 1M (``ml1m``, a spec shipped with the workbench) fetched from the mirror and
prepared: the counts its SOURCE.md records, titles and years split, plot coverage."""

from __future__ import annotations

import pytest

from tests.helpers import require_mirror
from workbench import data
from workbench.settings import Settings

pytestmark = pytest.mark.integration


def test_ml1m_fetches_from_the_mirror_and_prepares(tmp_path) -> None:
    settings = Settings(home=tmp_path / "home", data_mirror=require_mirror())
    fetched = data.fetch("ml1m", settings)
    assert {f.name for f in fetched} == {"ratings.dat", "movies.dat", "README",
                                         "dbpedia_abstracts.json"}
    assert all(f.source.startswith("mirror:") for f in fetched)
    report = data.prepare("ml1m", settings)
    items = data.load_items("ml1m", settings).set_index("item_id")
    inter = data.load_interactions("ml1m", settings)
    assert len(inter) == 1_000_209 and inter["user_id"].nunique() == 6_040
    assert inter["item_id"].nunique() == 3_706 and len(items) == 3_883
    assert inter["rating"].value_counts().sort_index().tolist() == [
        56_174, 107_557, 261_197, 348_971, 226_310]
    assert inter["timestamp"].between(956_703_932, 1_046_454_590).all()
    assert items.loc[1, "title"] == "Toy Story" and items.loc[1, "year"] == 1995
    assert items.loc[1, "genres"] == ["Animation", "Children's", "Comedy"]
    assert items.loc[73, "title"] == "Misérables, Les"  # ISO-8859-1
    assert items.loc[924, "title"] == "2001: A Space Odyssey" and items.loc[924, "year"] == 1968
    assert items["year"].notna().all() and len(report.issues) == 1  # the stand-ins below
    # SOURCE.md: 3,228 of the 3,706 rated movies have an entry; 348 of those are stand-ins
    assert report.outputs["items_with_text"] == 2_942
    assert report.outputs["items_rated_with_text"] == 2_880
    assert "Plot text: 2,880 of the 3,706 rated items (77.7%)" in " ".join(report.notes)
    assert report.issues["dbpedia_abstracts.json: placeholder text (matches 'Abstract not "
                         "found\\\\.|Movie: .*, Genres: \\\\[.*\\\\]')"].count == 359
    assert report.outputs["splits"]["leave_last_out"]["test_users"] == 6_040
