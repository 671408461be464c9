"""The interactive dashboard (ipywidgets): search, "more like this", content match vs AI pick
side by side, and the personalised feed. ``notebooks/dashboard.ipynb`` is two cells; ``make
dashboard`` serves it with Voila on 127.0.0.1, and it works inside JupyterLab as well.

::

    from workbench.dashboard import Dashboard
    Dashboard().show()                   # datasets and model from the settings

Decisions:

- **Models**: each dataset loads the champion collaborative model (chosen on validation
  NDCG@10 by `make pipeline`: the local copy, else the MLflow registry's alias); without one
  (or without a content index), the panel says to run ``make pipeline``. The panel names the
  model ("champion: blend v4"). Datasets load on first use and stay loaded.
- **Requests**: the last thing typed wins: a free-text query (Enter or "Search") or a title
  picked in "more like this". The alpha slider, the franchise controls, k and the user
  re-rank without re-encoding the query when only AI pick depends on them.
- **New users**: "new user" mode shows the catalog's most popular items as ticks; the ticked
  ones are the liked items of the cold-start path (``liked=`` in the hybrid).
- **Errors** (empty query, unknown title, unknown user, missing models) are one line in the
  panel, never a traceback; each answer shows how long it took. An unknown title under "More
  like" offers a "Fetch" button: cold start (:mod:`workbench.enrich.coldstart`) adds it from
  the provider and shows its matches.
- **Posters**: the item's ``poster_url`` when a provider supplied one, else a generated SVG
  placeholder (initials on a colour derived from the title), so nothing is fetched from the
  network unless a provider was configured.
- **Self-healing** (``WORKBENCH_SELF_HEAL=true``): after each answer, the shown items' missing
  posters, overviews, years and ratings are fetched from the provider in a background thread,
  saved as patches (:mod:`workbench.enrich.heal`) and the columns re-rendered.
"""

from __future__ import annotations

import base64
import hashlib
import html
import threading
import time
from collections.abc import Callable

import ipywidgets as w
import numpy as np
import pandas as pd

from workbench import WorkbenchError
from workbench.data import display_title, safe_image_url
from workbench.hybrid import HybridConfig, Recommendations, Recommender, RecommenderError
from workbench.settings import Settings, get_settings

PLOT, TITLE = "describe a plot", "more like a title"
INPUT_MODES = {PLOT: "describe a plot, e.g. time travel thriller",
               TITLE: "type a title, e.g. Inception"}
"""The input's modes and their placeholders: one box, one meaning at a time."""
READY = "ready: describe a plot and press Enter, or switch to “more like a title”"
WARMING = "warming up the models: the first answer comes right after"
IDLE_BEFORE_PRELOAD_S = 8.0
"""The other datasets are loaded in the background once the page has had no request for this
long (loading one takes a few seconds of CPU that a first query should not share)."""
LIKED_CHOICES = 24
"""Popular items offered as ticks in "new user" mode."""
PICKER_OPTIONS = 3000
"""Titles offered in the "more like this" picker (by popularity; any exact title works)."""

CSS = """<style>
.wb-col h3 {margin: 4px 0 8px 0; font: 600 15px sans-serif;}
.wb-card {display: flex; gap: 10px; padding: 8px; margin-bottom: 8px; border: 1px solid #ddd;
          border-radius: 6px; background: #fff; font: 13px sans-serif; max-width: 560px;}
.wb-card img {width: 60px; height: 90px; object-fit: cover; border-radius: 4px; flex: none;}
.wb-title {font-weight: 600;} .wb-year {color: #666; font-weight: 400;}
.wb-badge {display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 8px;
           background: #eef; color: #335; font-size: 11px; font-weight: 400;}
.wb-genres {color: #555; font-size: 12px;}
.wb-synopsis {color: #333; display: -webkit-box; -webkit-line-clamp: 2;
              -webkit-box-orient: vertical; overflow: hidden; margin: 2px 0;}
.wb-bar {display: flex; align-items: center; gap: 6px; font-size: 11px; color: #444;}
.wb-bar .wb-track {width: 120px; height: 6px; background: #eee; border-radius: 3px;}
.wb-bar .wb-fill {height: 6px; border-radius: 3px; background: #4a7bd0;}
.wb-bar.pref .wb-fill {background: #d07a4a;}
.wb-why {color: #777; font-size: 11px; margin-top: 2px;}
.wb-note {color: #666; font: 12px sans-serif; margin: 0 0 6px 0;}
.wb-error {color: #b00020; font: 13px sans-serif;}
.wb-model {color: #444; font: 12px sans-serif; margin: 2px 0 6px 0;}
.wb-busy {color: #335; font: 12px sans-serif; margin: 0 0 6px 0;}
.wb-busy::before {content: ""; display: inline-block; width: 10px; height: 10px;
                  margin-right: 6px; border: 2px solid #99b; border-top-color: transparent;
                  border-radius: 50%; animation: wb-spin 0.8s linear infinite;}
@keyframes wb-spin {to {transform: rotate(360deg);}}
.wb-history {font: 12px sans-serif; color: #333; max-width: 520px;}
.wb-history b {font-weight: 600;} .wb-history .wb-rating {color: #a60;}
</style>"""


def placeholder_poster(title: str, year: object = None) -> str:
    """A data-URI SVG poster: the title's initials on a colour derived from the title."""
    hue = int(hashlib.sha256(title.encode()).hexdigest()[:4], 16) % 360
    initials = "".join(word[0] for word in title.split()[:2] if word[:1].isalnum()).upper()
    label = html.escape(initials or title[:2].upper())
    year_text = "" if year is None or pd.isna(year) else html.escape(str(year))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="60" height="90">'
           f'<rect width="60" height="90" fill="hsl({hue},45%,45%)"/>'
           f'<text x="30" y="48" font-family="sans-serif" font-size="20" fill="white" '
           f'text-anchor="middle">{label}</text>'
           f'<text x="30" y="80" font-family="sans-serif" font-size="10" fill="white" '
           f'text-anchor="middle">{year_text}</text></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _bar(label: str, value: float | None, fraction: float | None, css: str = "") -> str:
    if value is None or fraction is None or not np.isfinite(value):
        return ""
    width = max(0.0, min(1.0, float(fraction))) * 100
    return (f'<div class="wb-bar {css}"><div class="wb-track"><div class="wb-fill" '
            f'style="width:{width:.0f}%"></div></div>{html.escape(label)} {value:.2f}</div>')


def render_cards(recs: Recommendations, rec: Recommender, heading: str) -> str:
    """HTML for one column: a heading, a one-line summary and a card per result."""
    frame = recs.frame
    pref = frame["preference"].to_numpy(dtype=float)
    finite = pref[np.isfinite(pref)]
    scale = float(finite.max()) if len(finite) and finite.max() > 1 else 1.0
    # a free-text match score is cosine + BM25 + prior (up to 1 + both weights): bars are
    # drawn relative to the column's best when it is above 1
    sims = frame["similarity"].to_numpy(dtype=float)
    sims = sims[np.isfinite(sims)]
    sim_scale = float(sims.max()) if len(sims) and sims.max() > 1 else 1.0
    parts = [f'<div class="wb-col"><h3>{html.escape(heading)}</h3>',
             f'<p class="wb-note">{html.escape(recs.summary())}</p>']
    items = rec.items
    for row in frame.itertuples(index=False):
        item = items.loc[row.item_id]
        src = safe_image_url(item.get("poster_url")) or placeholder_poster(row.title, row.year)
        shown = display_title(row.title, row.year)
        year = ("" if shown == row.title else
                f' <span class="wb-year">{html.escape(shown[len(row.title):].strip())}</span>')
        size = int(rec.franchises.at[row.item_id, "franchise_size"])
        badge = (f'<span class="wb-badge" title="franchise">{html.escape(row.franchise)} '
                 f'· {size}</span>' if size > 1 else "")
        text = item.get("text")
        synopsis = html.escape(text) if isinstance(text, str) else "<i>no synopsis</i>"
        genres = " · ".join(html.escape(g) for g in row.genres)
        sim = None if pd.isna(row.similarity) else float(row.similarity)
        prf = None if pd.isna(row.preference) else float(row.preference)
        parts.append(
            f'<div class="wb-card" data-item="{int(row.item_id)}">'
            f'<img src="{html.escape(src, quote=True)}" alt="poster">'
            f'<div><div class="wb-title">{row.rank}. {html.escape(row.title)}{year}{badge}'
            f'</div><div class="wb-genres">{genres}</div>'
            f'<div class="wb-synopsis">{synopsis}</div>'
            f'{_bar("match", sim, None if sim is None else sim / sim_scale)}'
            f'{_bar("preference", prf, None if prf is None else prf / scale, "pref")}'
            f'<div class="wb-why">{html.escape(row.reason)}</div></div></div>')
    if frame.empty:
        parts.append('<p class="wb-note">no results</p>')
    parts.append("</div>")
    return CSS + "".join(parts)


def load_for_dashboard(dataset: str, settings: Settings | None = None,
                       model: str = "champion") -> Recommender:
    """The dashboard's recommender: ``model`` (the champion by default); a clear error
    naming the command otherwise."""
    settings = settings or get_settings()
    try:
        return Recommender.load(dataset, settings, collaborative=model)
    except WorkbenchError as exc:
        raise RecommenderError(f"the {dataset} models are missing ({exc}); run `make "
                               f"pipeline` first") from None


class Dashboard:
    """The widgets, their wiring and the rendering (the notebook only calls :meth:`show`)."""

    def __init__(self, datasets: list[str] | None = None, settings: Settings | None = None,
                 model: str = "champion",
                 loader: Callable[[str], Recommender] | None = None,
                 healer: Callable[[str], object] | None = None, warm: bool = True) -> None:
        self.settings = settings or get_settings()
        if healer is None and self.settings.self_heal:
            from workbench.enrich import provider_for

            healer = lambda name: provider_for(name, self.settings)  # noqa: E731
        self._healer = healer
        self._healing = None
        names = datasets or list(self.settings.dashboard_datasets)
        self._loader = loader or (lambda name: load_for_dashboard(name, self.settings, model))
        self._recs: dict[str, Recommender] = {}
        self._request: tuple[str, object] | None = None
        self._item_labels: dict[str, int] = {}
        self._busy = False
        self._work = threading.RLock()
        """Held while answering and while warming up: a request waits for a warm-up step."""
        self._answered: tuple | None = None
        self.ready = threading.Event()
        """Set when the shown dataset's models are loaded and warmed (``warm=False``: at
        once)."""
        self.last_ms = 0.0
        self.answers = 0
        """Answers shown so far (each search, pick or control change that re-ranked)."""
        self._last_request = time.monotonic()

        self.dataset = w.Dropdown(options=names, value=names[0], description="Dataset")
        self.input_mode = w.ToggleButtons(options=list(INPUT_MODES), value=PLOT,
                                          tooltips=["free text: a plot, a theme, a mood",
                                                    "titles like one you name (completes "
                                                    "as you type)"])
        self.query = w.Combobox(placeholder=INPUT_MODES[PLOT], description="Search",
                                ensure_option=False, continuous_update=False,
                                layout=w.Layout(width="420px"))
        """The one input: a plot description, or a title, as ``input_mode`` says."""
        self.search_button = w.Button(description="Search", button_style="primary")
        self.mode = w.ToggleButtons(options=["known user", "new user"], value="known user")
        self.user = w.Combobox(description="User", placeholder="user id", options=[],
                               ensure_option=True, continuous_update=False,
                               layout=w.Layout(width="200px"))
        self.history = w.HTML()
        self.model_note = w.HTML()
        self.liked = w.GridBox(layout=w.Layout(grid_template_columns="repeat(3, 260px)"))
        defaults = HybridConfig()
        self.alpha = w.FloatSlider(value=defaults.alpha, min=0.0, max=1.0, step=0.05,
                                   description="alpha", continuous_update=False,
                                   readout_format=".2f")
        self.franchise_filter = w.Checkbox(value=defaults.max_per_franchise > 0,
                                           description="Franchise filter")
        self.max_per_franchise = w.IntSlider(value=max(defaults.max_per_franchise, 1), min=1,
                                             max=5,
                                             description="max per franchise",
                                             style={"description_width": "initial"},
                                             continuous_update=False)
        self.k = w.IntSlider(value=10, min=3, max=20, description="k", continuous_update=False)
        self.status = w.HTML()
        self.fetch_button = w.Button(description="Fetch it", icon="download",
                                     layout=w.Layout(display="none"))
        self._unknown_title: str | None = None
        self.content_box = w.HTML()
        self.ai_box = w.HTML()
        self.feed_box = w.HTML()
        self.tabs = w.Tab(children=[
            w.HBox([self.content_box, self.ai_box], layout=w.Layout(gap="16px")),
            self.feed_box])
        self.tabs.set_title(0, "Search")
        self.tabs.set_title(1, "For you")
        self._wire()
        if not warm:
            self.ready.set()
        self._on_dataset()
        if warm:
            threading.Thread(target=self._warm_up, name="dashboard-warm-up", daemon=True).start()

    # -- layout and wiring --------------------------------------------------------------------

    def show(self) -> w.Widget:
        """The root widget (display it, or make it a notebook cell's last expression)."""
        user_row = w.HBox([self.mode, self.user, self.history])
        controls = w.VBox([
            w.HBox([self.dataset, self.k]),
            self.input_mode,
            w.HBox([self.query, self.search_button]),
            user_row, self.liked,
            w.HBox([self.alpha, self.franchise_filter, self.max_per_franchise]),
            self.model_note,
        ])
        return w.VBox([controls, w.HBox([self.status, self.fetch_button]), self.tabs])

    # -- warm start ---------------------------------------------------------------------------

    def _warm_up(self) -> None:
        """In the background: answer one query and one feed with the shown dataset (loads the
        encoder graph, the BM25 index, the model's scoring), then, once the page is idle, load
        and warm the other datasets; the status line says what is happening, and a request
        waits at most for the step in progress."""
        first = self.dataset.value
        try:
            with self._work:  # the shown dataset: a request waits for this
                try:
                    self.recommender.warm_up()
                except Exception as exc:  # said in place of "warming up", never left there
                    self._show_error(f"{first}: warming up failed: {exc}")
                    raise
            self._last_request = time.monotonic()  # the idle clock starts at "ready"
            self.ready.set()
            if self._request is None and "wb-busy" in self.status.value:
                self._show_note(READY)
            for name in [n for n in self.dataset.options if n != first]:
                while time.monotonic() - self._last_request < IDLE_BEFORE_PRELOAD_S:
                    time.sleep(0.5)  # a person is using the page: do not compete for the CPU
                if name in self._recs:
                    continue
                rec = self._loader(name)  # outside the lock: requests go on meanwhile
                rec.warm_up()
                with self._work:
                    self._recs.setdefault(name, rec)
        except Exception:  # a dataset that does not load says so when it is picked
            pass
        finally:
            self.ready.set()

    def _wire(self) -> None:
        self.dataset.observe(lambda _: self._on_dataset(), names="value")
        self.query.observe(lambda _: self._on_query(), names="value")
        self.search_button.on_click(lambda _: self._on_query())
        self.input_mode.observe(lambda _: self._on_input_mode(), names="value")
        self.fetch_button.on_click(lambda _: self.fetch_unknown_title())
        self.mode.observe(lambda _: self._on_mode(), names="value")
        for control in (self.user, self.alpha, self.franchise_filter, self.max_per_franchise,
                        self.k):
            control.observe(lambda _: self.refresh(), names="value")

    @property
    def recommender(self) -> Recommender:
        name = self.dataset.value
        with self._work:
            if name not in self._recs:
                self._recs[name] = self._loader(name)
            return self._recs[name]

    # -- events -------------------------------------------------------------------------------

    def _on_dataset(self) -> None:
        self._request = None
        try:
            rec = self.recommender
        except WorkbenchError as exc:
            self._show_error(str(exc))
            return
        except Exception as exc:  # a broken artifact must not show a traceback
            self._show_error(f"could not load {self.dataset.value}: {exc}")
            return
        self._busy = True
        try:
            users = rec.collaborative.ids.users if rec.collaborative is not None else []
            self.user.options = [str(int(u)) for u in users]
            self.user.value = self.user.options[0] if self.user.options else ""
            self.model_note.value = self._model_html(rec)
            popular = rec.trending("popularity").index
            labels = {}
            for item_id in popular[:PICKER_OPTIONS]:
                labels[self._label(rec, item_id)] = int(item_id)
            self._item_labels = labels
            self._on_input_mode()
            self.liked.children = [
                w.Checkbox(value=False, description=self._label(rec, i), indent=False,
                           layout=w.Layout(width="250px"))
                for i in popular[:LIKED_CHOICES]]
            for box in self.liked.children:
                box.observe(lambda _: self.refresh(), names="value")
            self.alpha.value = rec.config.alpha
        finally:
            self._busy = False
        self._on_mode()
        if self.query.value.strip():  # the same words in the new catalog, said in the status
            self._request = self._input_request()
        self.refresh()

    @staticmethod
    def _model_html(rec: Recommender) -> str:
        """The model line: which model ranks the AI pick, and what alpha means."""
        label = rec.model_label or "no collaborative model (content only)"
        name = label.replace("champion: ", "champion = ")
        return (f'<p class="wb-model">AI pick model: <b>{html.escape(name)}</b> · alpha = '
                f'weight of the content match (1: content order, 0: the model\'s order)</p>')

    def _history_html(self, rec: Recommender) -> str:
        """The picked user's best-rated training items, so personalisation can be judged."""
        if self.mode.value == "new user" or not self.user.value:
            return ""
        try:
            liked = rec.user_history(int(self.user.value), n=6)
        except (WorkbenchError, ValueError):
            return ""
        if liked.empty:
            return '<div class="wb-history">no ratings in the training data</div>'
        shown = ", ".join(f"{html.escape(display_title(r.title, r.year))} "
                          f'<span class="wb-rating">{r.rating:g}</span>'
                          for r in liked.itertuples(index=False))
        return f'<div class="wb-history"><b>liked:</b> {shown}</div>'

    @staticmethod
    def _label(rec: Recommender, item_id: int) -> str:
        row = rec.items.loc[item_id]
        return display_title(row["title"], row["year"])

    def _input_request(self) -> tuple[str, str]:
        kind = "query" if self.input_mode.value == PLOT else "item"
        return kind, self.query.value if kind == "query" else (self.query.value or "").strip()

    def _on_query(self) -> None:
        """Enter (or leaving the box) or the button: one request for what the input holds."""
        self._request = self._input_request()
        self.refresh()

    def _on_input_mode(self) -> None:
        """Switch what the input means: titles complete in title mode; nothing re-runs until
        the next Enter."""
        titles = self.input_mode.value == TITLE
        self.query.placeholder = INPUT_MODES[self.input_mode.value]
        self.query.options = tuple(self._item_labels) if titles else ()

    def _on_mode(self) -> None:
        new = self.mode.value == "new user"
        self.user.layout.display = "none" if new else None
        self.liked.layout.display = None if new else "none"
        self.refresh()

    # -- answering ----------------------------------------------------------------------------

    def resolve_title(self, text: str) -> int:
        """The item id of a picker label or an exact (case-insensitive) catalog title."""
        if text in self._item_labels:
            return self._item_labels[text]
        titles = self.recommender.items["title"].str.lower()
        hits = titles[titles == text.strip().lower()]
        if hits.empty:
            self._unknown_title = text.strip()
            raise RecommenderError(f"unknown title {text!r} in {self.dataset.value}: pick one "
                                   f"from the list, or fetch it from the provider")
        return int(hits.index[0])

    def fetch_unknown_title(self) -> None:
        """Cold start from the panel: fetch the unknown title typed under "More like", add it
        to the catalog and the index (saved in the background) and show its matches."""
        from workbench.enrich.coldstart import add_item

        title = self._unknown_title
        if not title:
            return
        try:
            rec = self.recommender
            result = add_item(rec.content, title, settings=self.settings)
            fresh = Recommender(rec.content, rec.collaborative, rec.config, rec.model_label)
            self._recs[self.dataset.value] = fresh
            self._item_labels[self._label(fresh, result.item_id)] = result.item_id
            self._unknown_title = None
            fresh.settings = rec.settings
            self._on_input_mode()
            self._request = ("item", self._label(fresh, result.item_id))
            self.refresh(force=True)
            shown = display_title(result.title, result.year)
            self.status.value += (f'<p class="wb-note">added {html.escape(shown)} from '
                                  f'{html.escape(str(result.provider))}</p>')
            result.saved.add_done_callback(self._report_save)
        except WorkbenchError as exc:
            self._show_error(str(exc))
        except Exception as exc:  # shown in the panel, never as a traceback
            self._show_error(f"could not fetch {title!r}: {type(exc).__name__}: {exc}")

    def _report_save(self, saved) -> None:
        """Say so in the panel when a background save of an added item failed."""
        error = saved.exception()
        if error is not None:
            self.status.value += (f'<p class="wb-error">⚠ the added item was not saved: '
                                  f'{html.escape(str(error), quote=False)}</p>')

    def _user_kwargs(self) -> dict:
        if self.mode.value == "new user":
            liked = [self._item_labels[b.description] for b in self.liked.children
                     if b.value and b.description in self._item_labels]
            if not liked:
                raise RecommenderError("new user: tick a few liked items")
            return {"liked": liked}
        if not self.user.options:
            raise RecommenderError("no users: this dataset has no collaborative model")
        if not str(self.user.value or "").strip().isdigit():
            raise RecommenderError("pick a user id from the list")
        return {"user_id": int(self.user.value)}

    def _options(self) -> dict:
        return {"max_per_franchise": self.max_per_franchise.value
                if self.franchise_filter.value else 0}

    def _state(self) -> tuple:
        liked = tuple(b.value for b in self.liked.children)
        return (self.dataset.value, self._request, self.mode.value, self.user.value, liked,
                self.alpha.value, self.franchise_filter.value, self.max_per_franchise.value,
                self.k.value)

    def refresh(self, force: bool = False) -> None:
        """Recompute and render both columns and the feed for the current controls; nothing
        when they are what was last answered (Enter then the button is one request) unless
        ``force``. Errors are shown in the status line; the columns keep their last answer."""
        if self._busy:
            return
        state = self._state()
        if state == self._answered and not force:
            return
        self._last_request = time.monotonic()
        self._show_busy("searching…" if self._request else "loading…")
        with self._work:
            self._answer(state)

    def _answer(self, state: tuple) -> None:
        started = time.perf_counter()
        try:
            rec = self.recommender
            self.history.value = self._history_html(rec)
            user = self._user_kwargs()
            k, options = self.k.value, self._options()
            self.feed_box.value = render_cards(rec.personalized_feed(k=k, **user, **options),
                                               rec, "For you")
            self._answered = state
            if self._request is None:
                self.content_box.value = self.ai_box.value = ""
                if self.ready.is_set():
                    self._show_note(READY)
                else:
                    self._show_busy(WARMING)
                return
            kind, value = self._request
            target = ({"query": value} if kind == "query"
                      else {"item_id": self.resolve_title(str(value))})
            content = rec.content_match(k=k, **target, **options)
            ai = rec.ai_pick(k=k, alpha=self.alpha.value, **target, **user, **options)
            self.content_box.value = render_cards(content, rec, "Content match")
            self.ai_box.value = render_cards(ai, rec, "AI pick")
            self._heal_in_background(rec, [*content.item_ids, *ai.item_ids])
            self.last_ms = (time.perf_counter() - started) * 1000
            self.answers += 1
            self._show_note(f"{self.dataset.value}: answered in {self.last_ms:.0f} ms · model "
                            f"{rec.model_label}", answer=self.answers)
        except WorkbenchError as exc:
            self._show_error(str(exc))
        except Exception as exc:  # shown in the panel, never as a traceback
            self._show_error(f"unexpected error: {type(exc).__name__}: {exc}")

    def _heal_in_background(self, rec: Recommender, item_ids: list[int]) -> None:
        """Self-healing (``WORKBENCH_SELF_HEAL``): patch the shown items' missing details
        from the provider in a background thread, then re-render."""
        if self._healer is None or (self._healing is not None and not self._healing.done()):
            return
        from concurrent.futures import ThreadPoolExecutor

        from workbench.enrich.heal import PatchStore, heal_shown

        dataset = self.dataset.value

        def work() -> int:
            try:
                store = PatchStore.for_dataset(dataset, self.settings)
                patched = heal_shown(rec, item_ids, self._healer(dataset), store)
            except Exception as exc:  # offline, no key...: say so, keep working
                self.status.value += (f'<p class="wb-note">details not healed: '
                                      f'{html.escape(str(exc), quote=False)}</p>')
                return 0
            if patched and self.dataset.value == dataset:
                self.refresh(force=True)
            return patched

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heal")
        self._healing = pool.submit(work)
        pool.shutdown(wait=False)

    def _show_note(self, text: str, answer: int | None = None) -> None:
        """A note in the status line; an answer's carries its number (``data-answer``), so
        a browser test can tell one answer from the next."""
        tag = "" if answer is None else f' data-answer="{answer}"'
        self.status.value = f'<p class="wb-note"{tag}>{html.escape(text, quote=False)}</p>'
        self.fetch_button.layout.display = "none"

    def _show_busy(self, text: str) -> None:
        self.status.value = f'<p class="wb-busy">{html.escape(text, quote=False)}</p>'

    def _show_error(self, text: str) -> None:
        """The error in the status line; the columns and the feed keep what they show."""
        self._answered = None  # the same controls again are a new request
        self.status.value = f'<p class="wb-error">⚠ {html.escape(text, quote=False)}</p>'
        offer = self._unknown_title is not None and text.startswith("unknown title")
        self.fetch_button.layout.display = None if offer else "none"
        if offer:
            self.fetch_button.description = f"Fetch “{self._unknown_title}”"
