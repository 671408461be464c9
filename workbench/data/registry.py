"""The dataset registry: which raw files make each dataset, where they come from, their sha256.

Each raw file is fetched from a mirror folder laid out like ``../shared/data`` (see
:class:`workbench.settings.Settings.data_mirror`) or, when no mirror holds it, downloaded from
its public origin: the exact commit of the public repository that ``../shared/data`` records
in each folder's ``SOURCE.md``. The sha256 recorded here is that of the file's *uncompressed
content*, so the same check holds for a ``.csv.gz`` in the mirror, a zip member downloaded from
the origin, and the canonical file kept in ``data/raw/<dataset>/``.
"""

from __future__ import annotations

from pathlib import Path

from workbench import WorkbenchError
from workbench.data.spec import DatasetSpec, RawFile, SpecError, load_spec

__all__ = ["DATASETS", "PIPELINE_DATASETS", "DatasetSpec", "RawFile", "all_datasets",
           "get_dataset", "register_spec", "user_datasets"]


_GH = "https://raw.githubusercontent.com"
_ML_COMMIT = "91ef23e2538dec77fdfbfa2c76579daf185238c7"
_ML = f"{_GH}/sworsf/recommender/{_ML_COMMIT}/data"
_TMDB_ZIP = (
    "https://github.com/harsh-priyam/Data/raw/"
    "9062d44c86300733ddc1dbb5321c5a9153018230/tmdb_5000_movies.zip"
)
_ANIME_REPO = "https://github.com/zerotrustprivacy/get2knowme/raw"

MOVIES = DatasetSpec(
    name="movies",
    provider="tmdb",
    reader="workbench.data.movies:read_movies",
    title="TMDB 5000 movies + MovieLens ml-latest-small ratings",
    description=(
        "Catalog: the 4,803 TMDB 5000 movies (plot overview, genres, keywords, language, "
        "runtime, popularity, votes). Feedback: MovieLens ml-latest-small explicit ratings "
        "(0.5-5 stars, with timestamps) joined through links.csv (tmdbId); catalog movies "
        "nobody rated stay in the catalog."
    ),
    license=(
        "TMDB 5000: data from the TMDb API, TMDb terms apply (not endorsed or certified by "
        "TMDb). MovieLens: GroupLens research licence (non-commercial; cite Harper & Konstan "
        "2015); README.txt is kept beside the raw data."
    ),
    files=(
        RawFile(
            "tmdb_5000_movies.csv",
            "1e0584a8dd374120e4ed4f2b81f0d2bd0eb95a554708e4a350d00ed5c46d2825",
            "tmdb-5000-movies/tmdb_5000_movies.csv.gz",
            _TMDB_ZIP,
            member="tmdb_5000_movies.csv",
            rows=4803,
        ),
        RawFile(
            "ratings.csv",
            "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
            "ml-latest-small/ratings.csv.gz",
            f"{_ML}/ratings.csv",
            rows=100836,
        ),
        RawFile(
            "links.csv",
            "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31",
            "ml-latest-small/links.csv",
            f"{_ML}/links.csv",
            rows=9742,
        ),
        RawFile(
            "README.txt",
            "63d22ac138e80fae37021797ed8e1b9424b5239dc576a137422adf783ae3f404",
            "ml-latest-small/README.txt",
            f"{_ML}/README.txt",
        ),
    ),
    rating_scale=(0.5, 5.0),
    has_timestamps=True,
)

ANIME = DatasetSpec(
    name="anime",
    provider="jikan",
    reader="workbench.data.anime:read_anime",
    title="MyAnimeList 2020 (anime_with_synopsis + anime.csv) + 100k-rating sample",
    description=(
        "Catalog: the 16,214 anime of anime_with_synopsis.csv (MAL synopsis, genres) with the "
        "metadata of anime.csv (type, episodes, duration, members, score, studios, aired). "
        "Feedback: the first 99,999 rows of rating_complete.csv (575 users, ratings 1-10, no "
        "timestamps)."
    ),
    license=(
        "Scraped from MyAnimeList by Hernán Valdivieso (Kaggle "
        "hernan4444/anime-recommendation-database-2020); MAL's terms apply to the text; "
        "non-commercial research use."
    ),
    files=(
        RawFile(
            "anime_with_synopsis.csv",
            "1f8516ffc878a2ed911af5d273123abd0fe7c501d202b8fc60607d98efd85aad",
            "anime-recommendation-database-2020/anime_with_synopsis.csv.gz",
            f"{_ANIME_REPO}/78bfdd4b42ee8668776cf19449dad6b3beb626f1/anime_with_synopsis.csv.zip",
            member="anime_with_synopsis.csv",
            rows=16214,
        ),
        RawFile(
            "anime.csv",
            "898fb0bd56f30166e46517f3f7116d1a5448fc86894dd5c12a8c0eca4a486922",
            "anime-recommendation-database-2020/anime.csv.gz",
            f"{_ANIME_REPO}/a2fcd14cdba400d5279e1af63968324ecc88b7c1/anime.csv.zip",
            member="anime.csv",
            rows=17562,
        ),
        RawFile(
            "rating_complete_sample.csv",
            "367f93c89198e569d7af5f7dbc8871aac62cfaa479da68ee54e6236ac26c3881",
            "anime-recommendation-database-2020/rating_complete_sample.csv.gz",
            f"{_GH}/Lalith411/Multi-armed-Bandits-Approach-for-Recommendations-Systems/"
            "bb5f7be75b480138881509f254d02af0070f3fe1/rating_complete.csv",
            rows=99999,
        ),
    ),
    rating_scale=(1.0, 10.0),
    has_timestamps=False,
    demo_query="time travel thriller",
)

TOY = DatasetSpec(
    name="toy",
    reader="workbench.data.toy:read_toy",
    title="Toy: a tiny deterministic synthetic dataset",
    description=(
        "Generated by workbench.data.toy for unit and notebook tests: a few genre clusters with "
        "planted near-duplicate plots and users who prefer one cluster."
    ),
    license="Generated by this project; no third-party data.",
    rating_scale=(1.0, 5.0),
    has_timestamps=True,
    synthetic=True,
)

ML1M = load_spec(Path(__file__).parent / "specs" / "ml1m.yaml")
"""MovieLens 1M: a spec file shipped with the workbench (the generic reader, no Python)."""

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MOVIES, ANIME, ML1M, TOY)}
"""The built-in datasets; a user's own are spec files in ``Settings.datasets_dir``."""

PIPELINE_DATASETS = ("movies", "anime", "ml1m")
"""What ``workbench pipeline`` (``make pipeline``) runs without ``--dataset``: the two demo
catalogs and MovieLens 1M, whose whole pipeline adds about 5 minutes (the issue's rule: it
joins while ``make pipeline`` from nothing stays under 15 minutes; docs/datasets.md has the
times). ``--dataset`` runs any subset."""


def user_datasets(settings=None) -> dict[str, DatasetSpec]:
    """The datasets written as spec files in the settings' ``datasets_dir`` (by name)."""
    from workbench.settings import get_settings

    folder = (settings or get_settings()).datasets_dir
    return {path.stem: load_user_spec(path)
            for path in (sorted(folder.glob("*.yaml")) if folder.is_dir() else [])}


def load_user_spec(path) -> DatasetSpec:
    """:func:`load_spec`, refusing a built-in dataset's name."""
    spec = load_spec(path)
    if spec.name in DATASETS:
        raise SpecError(f"dataset spec {spec.origin}: name: {spec.name!r} is a built-in "
                        f"dataset; choose another name")
    return spec


def register_spec(spec_file, settings=None) -> tuple[DatasetSpec, bool]:
    """Check a user's spec file against its files and keep it as ``<datasets_dir>/<name>.yaml``
    (file paths made absolute, so the copy finds them); returns the spec and whether it
    replaced an earlier one. ``workbench data add`` and ``workbench data synth`` end here."""
    import yaml

    from workbench.data.spec import header
    from workbench.settings import get_settings
    from workbench.storage import write_text

    spec = load_user_spec(spec_file)
    target = (settings or get_settings()).spec_file(spec.name)
    stored = yaml.safe_load(Path(spec.origin).read_text(encoding="utf-8"))
    if not spec.files:  # files fetched later (`workbench data fetch`) are checked then
        for part in ("items", "interactions"):
            header(spec, part)
            stored[part]["file"] = str(getattr(spec.layout, part).file)
        text = spec.layout.items.columns.text
        if isinstance(stored["items"]["columns"].get("text"), dict):
            stored["items"]["columns"]["text"]["file"] = str(text.file)
    existed = target.exists() and Path(spec.origin) != target
    if Path(spec.origin) != target:
        write_text(target, yaml.safe_dump(stored, sort_keys=False, allow_unicode=True))
    return spec, existed


def all_datasets(settings=None) -> dict[str, DatasetSpec]:
    """The built-in datasets, then the user's spec files."""
    return {**DATASETS, **user_datasets(settings)}


def get_dataset(name: str, settings=None) -> DatasetSpec:
    """The dataset ``name``: a built-in one, else ``<datasets_dir>/<name>.yaml``; a clear error
    listing the known names otherwise."""
    if name in DATASETS:
        return DATASETS[name]
    from workbench.settings import get_settings

    settings = settings or get_settings()
    path = settings.spec_file(name) if isinstance(name, str) and name else None
    if path is not None and path.is_file():
        return load_user_spec(path)
    known = ", ".join(sorted(all_datasets(settings)))
    raise WorkbenchError(f"unknown dataset {name!r}; known datasets: {known} (add your own "
                         f"with `workbench data add SPEC.yaml`)")
