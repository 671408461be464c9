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
  model and what it is ("champion = blend v7 (implicit feedback; ease 1 + itemknn 1.04 + ...)",
  :mod:`workbench.dashboard.legend`). Datasets load on first use and stay loaded.
- **Compare models**: a third tab puts two saved models' top 10 for the picked user side by
  side, items in both marked (:mod:`workbench.dashboard.compare`); it loads on opening.
- **Numbers**: the similarity bar is the cosine to the query or seed item (0-1, both modes);
  the preference bar the item's percentile among the user's unrated catalog items (or a
  predicted rating on the catalog's scale): :mod:`workbench.hybrid.explain`.
- **Users** are per dataset: each dataset keeps its last picked user, and a switch says
  which user is shown and why (no id is carried over: movies' user 17 is not anime's).
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

import html
import json
import threading
import time
from collections.abc import Callable

import ipywidgets as w

from workbench import WorkbenchError
from workbench.dashboard.cards import placeholder_poster, render_cards
from workbench.dashboard.compare import TAB_TITLE, ComparePanel
from workbench.data import display_title
from workbench.hybrid import HybridConfig, Recommender, RecommenderError
from workbench.settings import Settings, get_settings

__all__ = ["Dashboard", "load_for_dashboard", "placeholder_poster", "render_cards"]
IMPORTED_AT = time.time()
"""When this module (and what it imports) finished importing: a start-up timestamp."""

PLOT, TITLE = "describe a plot", "more like a title"
INPUT_MODES = {PLOT: "describe a plot, e.g. time travel thriller",
               TITLE: "type a title, e.g. Inception"}
"""The input's modes and their placeholders: one box, one meaning at a time."""
READY = "ready: describe a plot and press Enter, or switch to “more like a title”"
WARMING = "warming up the models: the first answer comes right after"
IDLE_BEFORE_PRELOAD_S = 8.0
"""The other datasets are loaded in the background once the page has had no request for this
long (loading one takes a few seconds of CPU that a first query should not share)."""
RESEND_AFTER_READY_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
"""Pauses between the re-sends of the status line after "ready" (see
:meth:`Dashboard._resend_status`): they cover a page that restores within half a minute."""
LIKED_CHOICES = 24
"""Popular items offered as ticks in "new user" mode."""
PICKER_OPTIONS = 3000
"""Titles offered in the "more like this" picker (by popularity; any exact title works)."""

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
        self._users: dict[str, str] = {}
        """Each dataset's last picked user (user ids are per dataset: movies' user 17 is not
        anime's), restored when the dataset is shown again."""
        self._user_note: tuple[str, str] | None = None
        """After a dataset switch: the user shown and the sentence saying why."""
        self.timings = {"kernel_started": _process_started(), "imported": IMPORTED_AT}
        """Start-up timestamps (epoch seconds): the kernel process, the imports done, the
        dashboard built (first dataset loaded, first feed), warmed up ("ready"); the page
        carries them (``data-timings``) for benchmarks/dashboard_start_benchmark.py."""
        self.timings_html = w.HTML(layout=w.Layout(display="none"))

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
        self.compare = ComparePanel(self.settings, lambda: self.recommender, self._compare_user,
                                    self._history_html, self._work)
        """The "Compare models" tab (:mod:`workbench.dashboard.compare`): loads on opening."""
        self.tabs = w.Tab(children=[
            w.HBox([self.content_box, self.ai_box], layout=w.Layout(gap="16px")),
            self.feed_box, self.compare.widget])
        for n, title in enumerate(["Search", "For you", TAB_TITLE]):
            self.tabs.set_title(n, title)
        self._wire()
        if not warm:
            self.ready.set()
        self._on_dataset()
        self._stamp("built")
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
        return w.VBox([controls, w.HBox([self.status, self.fetch_button]), self.tabs,
                       self.timings_html])

    def _stamp(self, event: str) -> None:
        """Record a start-up timestamp, in :attr:`timings` and on the page."""
        self.timings.setdefault(event, time.time())
        self.timings_html.value = (f"<span class=\"wb-timings\" data-timings='"
                                   f"{html.escape(json.dumps(self.timings))}'></span>")

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
                # under the lock: an answer in progress cannot put "warming up" back after
                self._stamp("ready")
                self.ready.set()
                if self._request is None and "wb-busy" in self.status.value:
                    self._show_note(self._with_user_note(READY))
            self._last_request = time.monotonic()  # the idle clock starts at "ready"
            threading.Thread(target=self._resend_status, name="dashboard-resend",
                             daemon=True).start()
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

    def _resend_status(self) -> None:
        """Send the status line (and the start-up timings) to the page again a few times
        after "ready". A change made while the page is restoring its widgets (between the
        kernel's answer to the page's state request and the page registering each widget)
        is dropped by the page, which then showed "warming up" for ever (1 reload in 10);
        the same value sent again is harmless."""
        for delay in RESEND_AFTER_READY_S:
            time.sleep(delay)
            self.status.send_state("value")
            self.timings_html.send_state("value")

    def _wire(self) -> None:
        self.dataset.observe(lambda change: self._on_dataset(change["old"]), names="value")
        self.query.observe(lambda _: self._on_query(), names="value")
        self.search_button.on_click(lambda _: self._on_query())
        self.input_mode.observe(lambda _: self._on_input_mode(), names="value")
        self.fetch_button.on_click(lambda _: self.fetch_unknown_title())
        self.tabs.observe(lambda change: self.compare.show(
            change["new"] == self.tabs.children.index(self.compare.widget)),
            names="selected_index")
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

    def _user_for(self, dataset: str) -> str:
        """The user to show for ``dataset``: the one last picked there, else the first id;
        the status line says which (user ids are per dataset, so none is carried over)."""
        options = self.user.options
        kept = self._users.get(dataset)
        user = kept if kept in options else (options[0] if options else "")
        before = [f"{name} keeps user {u}" for name, u in self._users.items()
                  if name != dataset and u]
        why = "picked before here" if kept == user else f"{dataset}'s first user"
        self._user_note = None if not before or not user else (user, (
            f"user {user} ({why}: user ids are per dataset; {', '.join(before)} for when "
            f"you switch back)"))
        return user

    def _on_dataset(self, previous: str | None = None) -> None:
        self._request = None
        if previous is not None and str(self.user.value or "").strip():
            self._users[previous] = str(self.user.value)
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
            self.user.value = self._user_for(self.dataset.value)
            self.model_note.value = self._model_html(rec, self.settings)
            popular = rec.trending("popularity").index[:PICKER_OPTIONS]
            rows = rec.items.loc[popular, ["title", "year"]]
            labels = [display_title(t, y) for t, y in zip(rows["title"], rows["year"],
                                                            strict=True)]
            self._item_labels = dict(zip(reversed(labels), reversed(popular.tolist()),
                                         strict=True))  # a repeated label: the most popular
            self._on_input_mode()
            self.liked.children = [
                w.Checkbox(value=False, description=label, indent=False,
                           layout=w.Layout(width="250px"))
                for label in labels[:LIKED_CHOICES]]
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
    def _model_html(rec: Recommender, settings: Settings | None = None) -> str:
        """The model line: which model ranks the AI pick and what it is (a blend's members
        and weights), what alpha means, and what the bars' numbers mean."""
        from workbench.dashboard.legend import legend_html, model_description

        label = rec.model_label or "no collaborative model (content only)"
        name = label.replace("champion: ", "champion = ")
        about = model_description(rec, settings)
        return (f'<p class="wb-model">AI pick model: <b>{html.escape(name)}</b>'
                f'{html.escape(about and f" ({about})")} · alpha = weight of the content match '
                f'(1: content order, 0: the model\'s order)</p>{legend_html(rec)}')

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
        """An item's title and year, as the picker shows it."""
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
        self.compare.refresh()  # the shown user's comparison, when that tab is open

    def _compare_user(self) -> str | None:
        """The user the "Compare models" tab shows (None in "new user" mode)."""
        return None if self.mode.value == "new user" else self.user.value

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
                    self._show_note(self._with_user_note(READY))
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
            self._show_note(self._with_user_note(
                f"{self.dataset.value}: answered in {self.last_ms:.0f} ms · model "
                f"{rec.model_label}"), answer=self.answers)
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

    def _with_user_note(self, text: str) -> str:
        """``text`` and, after a dataset switch, which user is shown and why (until another
        user is picked)."""
        user, note = self._user_note or ("", "")
        if not note or str(self.user.value) != user or self.mode.value == "new user":
            self._user_note = None
            return text
        return f"{text} · {note}"

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


def _process_started() -> float:
    """When this (kernel) process started, epoch seconds."""
    import psutil

    return psutil.Process().create_time()
