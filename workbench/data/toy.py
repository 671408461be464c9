"""A tiny deterministic synthetic dataset in the workbench schema, for unit and notebook tests.

Items fall into genre clusters; each item's plot is drawn from its cluster's vocabulary, and
item ``PLANTED_PAIR[1]``'s plot is a near-copy of item ``PLANTED_PAIR[0]``'s, so a content
search for the first must return the second as its nearest neighbour. Each user prefers one
cluster and rates its items high, others low, with increasing timestamps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data.readers import PreparedTables, PrepareReport

GENRE_WORDS: dict[str, list[str]] = {
    "Science Fiction": ["starship", "galaxy", "alien", "orbit", "robot", "laser", "planet",
                        "android", "warp", "colony"],
    "Romance": ["love", "wedding", "heart", "kiss", "letters", "summer", "longing", "dance",
                "promise", "reunion"],
    "Horror": ["haunted", "ghost", "curse", "blood", "shadow", "scream", "crypt", "demon",
               "midnight", "ritual"],
    "Comedy": ["prank", "banana", "awkward", "party", "mistaken", "chaos", "roommate", "joke",
               "clumsy", "karaoke"],
}
PLANTED_PAIR = (1001, 1002)
"""``PLANTED_PAIR[1]``'s plot nearly copies ``PLANTED_PAIR[0]``'s (a time-travel plot)."""
PLANTED_TEXT = (
    "A physicist builds a time machine in a garage and travels back to stop a murder, "
    "but every trip through time rewrites the timeline and creates a darker paradox."
)


def make_toy(
    n_users: int = 30, items_per_genre: int = 12, ratings_per_user: int = 14, seed: int = 0
) -> PreparedTables:
    """Generate the toy items and interactions (deterministic for a given seed)."""
    rng = np.random.default_rng(seed)
    genres = list(GENRE_WORDS)
    rows = []
    item_id = 1
    for g, genre in enumerate(genres):
        for i in range(items_per_genre):
            words = rng.choice(GENRE_WORDS[genre], size=8, replace=True)
            rows.append(
                {
                    "item_id": item_id,
                    "title": f"{genre} Story {i + 1}",
                    "text": f"A tale of {' '.join(words)}.",
                    "genres": [genre] + ([genres[(g + 1) % len(genres)]] if i % 4 == 0 else []),
                    "year": 1990 + int(rng.integers(0, 30)),
                    "runtime": float(rng.integers(80, 150)),
                    "popularity": float(rng.gamma(2.0, 10.0)),
                    "vote_average": float(np.round(rng.uniform(4, 9), 1)),
                    "vote_count": int(rng.integers(0, 5000)),
                }
            )
            item_id += 1
    for pid, suffix in zip(PLANTED_PAIR, ("", " It is a race against the clock."), strict=True):
        rows.append(
            {
                "item_id": pid,
                "title": "Paradox Loop" if pid == PLANTED_PAIR[0] else "Paradox Loop II",
                "text": PLANTED_TEXT + suffix,
                "genres": ["Science Fiction", "Thriller"],
                "year": 2010,
                "runtime": 101.0,
                "popularity": 30.0,
                "vote_average": 7.5,
                "vote_count": 1200,
            }
        )
    items = pd.DataFrame(rows)
    n = len(items)
    items = items.assign(
        alt_titles=[[] for _ in range(n)],
        keywords=[["time travel"] if i in PLANTED_PAIR else [] for i in items["item_id"]],
        companies=[["Toy Studio"] for _ in range(n)],
        language="en",
        episodes=pd.array([None] * n, dtype="Int64"),
        item_type="Movie",
        collection=pd.array(
            ["Paradox Loop" if i in PLANTED_PAIR else None for i in items["item_id"]],
            dtype="string",
        ),
        poster_url=pd.array([None] * n, dtype="string"),
        year=pd.array(items["year"], dtype="Int64"),
        vote_count=pd.array(items["vote_count"], dtype="Int64"),
    )

    primary = items["genres"].str[0]
    inter = []
    for user in range(n_users):
        liked = genres[user % len(genres)]
        pool_liked = items.loc[primary == liked, "item_id"].to_numpy()
        pool_other = items.loc[primary != liked, "item_id"].to_numpy()
        n_liked = ratings_per_user * 3 // 4
        chosen = np.concatenate(
            [
                rng.choice(pool_liked, size=min(n_liked, len(pool_liked)), replace=False),
                rng.choice(pool_other, size=ratings_per_user - n_liked, replace=False),
            ]
        )
        rng.shuffle(chosen)
        for t, item in enumerate(chosen):
            good = item in pool_liked
            rating = float(rng.choice([4.0, 4.5, 5.0]) if good else rng.choice([1.0, 2.0, 2.5]))
            inter.append((user, int(item), rating, 1_600_000_000 + user * 10_000 + t * 60))
    interactions = pd.DataFrame(inter, columns=["user_id", "item_id", "rating", "timestamp"])
    interactions["timestamp"] = pd.array(interactions["timestamp"], dtype="Int64")
    return PreparedTables(items, interactions)


def read_toy(raw_dir: Path, report: PrepareReport, spec: object = None) -> PreparedTables:
    """Reader hook for ``workbench data prepare toy`` (generates; reads nothing)."""
    report.notes.append("Synthetic data generated by workbench.data.toy.make_toy (seed 0).")
    return make_toy()
