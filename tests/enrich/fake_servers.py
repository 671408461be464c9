"""Local fake TMDB and Jikan servers on 127.0.0.1: realistic JSON through the real HTTP stack,
with scripted failures (delays, 429 with Retry-After, 5xx, malformed bodies)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TMDB_MOVIES = {
    1091: {"id": 1091, "title": "The Thing", "original_title": "The Thing",
           "release_date": "1982-06-25", "overview": "Scientists in the Antarctic are "
           "confronted by a shape-shifting alien that assumes the appearance of the people it "
           "kills.", "genres": [{"id": 27, "name": "Horror"}, {"id": 9648, "name": "Mystery"}],
           "keywords": {"keywords": [{"id": 1, "name": "antarctica"},
                                     {"id": 2, "name": "shape shifter"}]},
           "production_companies": [{"id": 33, "name": "Universal Pictures"}],
           "original_language": "en", "runtime": 109, "popularity": 35.2,
           "vote_average": 8.0, "vote_count": 6500, "poster_path": "/thing82.jpg",
           "belongs_to_collection": None},
    60935: {"id": 60935, "title": "The Thing", "original_title": "The Thing",
            "release_date": "2011-10-12", "overview": "A prequel set days before the 1982 "
            "film.", "genres": [{"id": 27, "name": "Horror"}],
            "keywords": {"keywords": [{"id": 3, "name": "prequel"}]},
            "production_companies": [{"id": 33, "name": "Universal Pictures"}],
            "original_language": "en", "runtime": 103, "popularity": 20.1,
            "vote_average": 6.2, "vote_count": 2500, "poster_path": "/thing11.jpg",
            "belongs_to_collection": {"id": 9, "name": "The Thing Collection"}},
    27205: {"id": 27205, "title": "Inception", "original_title": "Inception",
            "release_date": "2010-07-15", "overview": "A thief who steals corporate secrets "
            "through dream-sharing technology.", "genres": [{"id": 28, "name": "Action"}],
            "keywords": {"keywords": [{"id": 4, "name": "dream"}]},
            "production_companies": [{"id": 923, "name": "Legendary Pictures"}],
            "original_language": "en", "runtime": 148, "popularity": 80.0,
            "vote_average": 8.4, "vote_count": 30000, "poster_path": "/inception.jpg"},
    348: {"id": 348, "title": "Alien", "original_title": "Alien", "release_date": "1979-05-25",
          "overview": "During its return to the earth, commercial spaceship Nostromo "
          "intercepts a distress signal from a distant planet.",
          "genres": [{"id": 27, "name": "Horror"}, {"id": 878, "name": "Science Fiction"}],
          "keywords": {"keywords": [{"id": 5, "name": "xenomorph"}]},
          "production_companies": [{"id": 25, "name": "20th Century Fox"}],
          "original_language": "en", "runtime": 117, "popularity": 40.0,
          "vote_average": 8.1, "vote_count": 9000, "poster_path": "/alien.jpg"},
}
JIKAN_ANIME = {
    9253: {"mal_id": 9253, "title": "Steins;Gate", "title_english": "Steins;Gate",
           "title_japanese": "STEINS;GATE", "type": "TV", "episodes": 24,
           "duration": "24 min per ep", "score": 9.07, "scored_by": 1300000,
           "members": 2500000, "year": 2011, "synopsis": "A self-proclaimed mad scientist "
           "discovers a way to send messages to the past.",
           "genres": [{"mal_id": 8, "name": "Drama"}, {"mal_id": 24, "name": "Sci-Fi"}],
           "themes": [{"mal_id": 78, "name": "Time Travel"}],
           "studios": [{"mal_id": 314, "name": "White Fox"}],
           "images": {"jpg": {"image_url": "https://cdn.myanimelist.net/sg.jpg"}}},
    32188: {"mal_id": 32188, "title": "Steins;Gate 0", "type": "TV", "episodes": 23,
            "duration": "23 min per ep", "score": 8.5, "scored_by": 400000, "members": 900000,
            "year": 2018, "synopsis": "An alternate timeline.",
            "genres": [{"mal_id": 24, "name": "Sci-Fi"}],
            "studios": [{"mal_id": 314, "name": "White Fox"}],
            "images": {"jpg": {"image_url": "https://cdn.myanimelist.net/sg0.jpg"}}},
}


class FakeServer:
    """A threaded HTTP server; ``script`` maps a path prefix to a list of scripted answers
    (consumed in order; the last one repeats): dicts with status, body, headers, delay."""

    def __init__(self, routes) -> None:
        self.routes = routes
        self.script: dict[str, list[dict]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                server.requests.append(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                answer = server._scripted(url.path) or server.routes(url.path, query)
                time.sleep(answer.get("delay", 0))
                body = answer.get("body", "")
                raw = body if isinstance(body, str) else json.dumps(body)
                try:
                    self.send_response(answer.get("status", 200))
                    for key, value in answer.get("headers", {}).items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw.encode())))
                    self.end_headers()
                    self.wfile.write(raw.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _scripted(self, path: str) -> dict | None:
        for prefix, answers in self.script.items():
            if path.startswith(prefix) and answers:
                return answers.pop(0) if len(answers) > 1 else answers[0]
        return None

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def tmdb_routes(path: str, query: dict) -> dict:
    if query.get("api_key") != "test-key":
        return {"status": 401, "body": {"status_message": "Invalid API key"}}
    if path == "/3/search/movie":
        words = query.get("query", "").lower()
        hits = [{k: v for k, v in m.items() if k not in ("keywords",)}
                for m in TMDB_MOVIES.values() if words and words in m["title"].lower()]
        return {"body": {"page": 1, "results": hits, "total_results": len(hits)}}
    if path.startswith("/3/movie/"):
        movie = TMDB_MOVIES.get(int(path.rsplit("/", 1)[1]))
        return {"body": movie} if movie else {"status": 404, "body": {"status_code": 34}}
    return {"status": 404, "body": {}}


def jikan_routes(path: str, query: dict) -> dict:
    if path == "/v4/anime":
        words = query.get("q", "").lower()
        hits = [a for a in JIKAN_ANIME.values() if words and words in a["title"].lower()]
        return {"body": {"data": hits, "pagination": {"has_next_page": False}}}
    if path.startswith("/v4/anime/") and path.endswith("/full"):
        anime = JIKAN_ANIME.get(int(path.split("/")[3]))
        return {"body": {"data": anime}} if anime else {"status": 404, "body": {}}
    return {"status": 404, "body": {}}
