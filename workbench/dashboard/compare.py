"""The dashboard's "Compare models" tab: two saved collaborative models side by side for the
shown user (:mod:`workbench.hybrid.compare`).

Two dropdowns list the dataset's saved models (the champion's copy first, then every
``models/<dataset>/collaborative/<model>-<objective>`` folder); the first pair is the champion
and the first model of another kind. The tab shows the user's history, each model's top 10
(the user's rated items left out, as in "For you") as cards, the items in both lists marked
"in both", and a line "3 of 10 in common (Jaccard 0.18)".

Nothing is listed or loaded until the tab is opened. A model loads on the shown dataset's
content engine (not loaded again) and stays loaded while it is one of the two picked; the
champion is the dashboard's own. While the tab is shown it follows the dashboard's dataset
and user.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable

import ipywidgets as w

from workbench import WorkbenchError
from workbench.collaborative.champion import ALIAS
from workbench.dashboard.cards import render_cards
from workbench.hybrid import Recommender, RecommenderError
from workbench.hybrid.compare import TOP_K, comparable_models, compare, default_pair, with_model
from workbench.settings import Settings

TAB_TITLE = "Compare models"


class ComparePanel:
    """The tab's widgets and rendering; the dashboard supplies the shown dataset's
    recommender, the picked user (None in "new user" mode) and the history line."""

    def __init__(self, settings: Settings, recommender: Callable[[], Recommender],
                 user: Callable[[], str | None], history: Callable[[Recommender], str],
                 lock: threading.RLock | None = None) -> None:
        self.settings = settings
        self._recommender, self._user, self._history = recommender, user, history
        self._lock = lock or threading.RLock()
        self.model_a = w.Dropdown(description="Model A", options=[],
                                  layout=w.Layout(width="320px"))
        self.model_b = w.Dropdown(description="Model B", options=[],
                                  layout=w.Layout(width="320px"))
        self.status = w.HTML()
        self.history = w.HTML()
        self.box_a = w.HTML(layout=w.Layout(margin="0 16px 0 0"))
        self.box_b = w.HTML()
        self.widget = w.VBox([w.HBox([self.model_a, self.model_b]), self.status, self.history,
                              w.HBox([self.box_a, self.box_b])])
        self.widget.add_class("wb-compare")
        self.active = False
        """Whether the tab is shown (nothing is computed while it is not)."""
        self.loaded: dict[tuple[str, str], Recommender] = {}
        """(dataset, model name) -> a recommender with that model, loaded on first use and
        kept while it is one of the two picked (the champion: the dashboard's own)."""
        self._listed: str | None = None
        self._shown: tuple | None = None
        self._filling = False
        for box in (self.model_a, self.model_b):
            box.observe(lambda _: self.refresh(), names="value")

    def show(self, active: bool) -> None:
        """The tab was opened (``active``) or left."""
        self.active = active
        if active:
            self.refresh()

    def _list(self, dataset: str) -> None:
        """Fill both dropdowns with ``dataset``'s models and pick the default pair."""
        names = comparable_models(dataset, self.settings)
        self._filling = True
        try:
            self.model_a.options = self.model_b.options = names
            if len(names) >= 2:
                self.model_a.value, self.model_b.value = default_pair(dataset, self.settings,
                                                                      names)
        finally:
            self._filling = False
        if len(names) < 2:  # listed again next time; the error names what is there
            default_pair(dataset, self.settings, names)
        self._listed = dataset

    def _model(self, rec: Recommender, name: str) -> Recommender:
        """A recommender with the model ``name`` on ``rec``'s content engine: the dashboard's
        own for its champion, else loaded once (and kept while it is picked)."""
        if name == ALIAS and rec.model_label.startswith(ALIAS):
            return rec
        key = (rec.dataset, name)
        cached = self.loaded.get(key)
        if cached is None or cached.content is not rec.content or cached.items is not rec.items:
            cached = self.loaded[key] = with_model(rec, name, self.settings)
        return cached

    def _forget_others(self, dataset: str) -> None:
        """Drop the loaded models that are not shown (an EASE model of a large catalog holds
        an item-item matrix: a session that tries every model must not keep them all)."""
        shown = {(dataset, self.model_a.value), (dataset, self.model_b.value)}
        self.loaded = {key: rec for key, rec in self.loaded.items() if key in shown}

    def refresh(self, force: bool = False) -> None:
        """Show both models' top 10 for the dashboard's user (nothing while the tab is hidden
        or when nothing changed); errors are one line in the tab's status."""
        if not self.active or self._filling:
            return
        started = time.perf_counter()
        try:
            with self._lock:
                rec = self._recommender()
                if self._listed != rec.dataset:
                    self._list(rec.dataset)
                user = self._user()
                state = (id(rec), user, self.model_a.value, self.model_b.value)
                if state == self._shown and not force:
                    return
                self._shown = None
                self.history.value = self._history(rec)
                if user is None:
                    raise RecommenderError("compare models: pick a known user (switch to "
                                           "“known user”)")
                if not str(user).strip().isdigit():
                    raise RecommenderError("pick a user id from the list")
                self.status.value = '<p class="wb-busy">loading the models…</p>'
                a, b = (self._model(rec, name) for name in (self.model_a.value,
                                                            self.model_b.value))
                self._forget_others(rec.dataset)
                result = compare(a, b, int(user), TOP_K)
                common = result.common
                for box, which, model, recs in zip((self.box_a, self.box_b), "AB", (a, b),
                                                   result.lists, strict=True):
                    box.value = render_cards(recs, model, f"{which}: {model.model_label}",
                                             common)
                ms = (time.perf_counter() - started) * 1000
                self.status.value = (
                    f'<p class="wb-note wb-overlap" data-common="{len(common)}">user '
                    f'{int(user)}: {html.escape(result.summary())} · answered in {ms:.0f} ms'
                    f'</p>')
                self._shown = state
        except WorkbenchError as exc:
            self._error(str(exc))
        except Exception as exc:  # shown in the tab, never as a traceback
            self._error(f"unexpected error: {type(exc).__name__}: {exc}")

    def _error(self, text: str) -> None:
        """The error in the tab's status line; the columns are emptied (they would show
        another user's or model's lists)."""
        self.status.value = f'<p class="wb-error">⚠ {html.escape(text, quote=False)}</p>'
        self.box_a.value = self.box_b.value = ""
