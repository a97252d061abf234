"""The study's web app (FastAPI): the rating page, its JSON API, the images, the results.

A rater session's ID lives in the cookie ``facert_study`` (or comes in ``?session=ID``, which
sets the cookie: a resume link); the page asks :code:`GET /api/state` what to show and posts each
vote to :code:`POST /api/votes`. Image URLs name the session, the comparison's position and the
side ("a", "b", "input", "clean"), never the method. Every client mistake is a 4xx JSON body
``{"error": {"code": ..., "message": ...}}``. Nothing is fetched from outside: the page's style
and script are inline.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from facert import __version__
from facert.io.images import encode_image, read_image
from facert.serve.core import RequestError
from facert.study.db import Session, StudyDB, VoteError
from facert.study.items import StudySet, plan
from facert.study.report import results_html, results_json, results_of, votes_csv
from facert.study.scoring import Results

log = logging.getLogger("facert.study")
COOKIE = "facert_study"
BROWSER_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                 ".webp": "image/webp", ".bmp": "image/bmp"}  # fmt: skip


@dataclass(frozen=True)
class StudyOptions:
    rater: str = ""  # the name the start form proposes
    show_clean: bool = False  # show DIR/clean/ (the ground truth) beside the input
    draws: int = 2000  # bootstrap draws of the results' intervals
    max_pixels: int = 100_000_000


class NewSession(BaseModel):
    rater: str = Field("", max_length=100)


class NewVote(BaseModel):
    position: int = Field(ge=0)
    choice: Literal["a", "b", "same"]
    seconds: float | None = Field(None, ge=0, le=86_400)  # time on the comparison
    session: str | None = None  # default: the cookie's


def page() -> str:
    return resources.files("facert.study").joinpath("page.html").read_text("utf-8")


def create_app(study: StudySet, db: StudyDB, options: StudyOptions) -> FastAPI:
    """The app over ``study`` (the scanned folder) and ``db`` (opened by the caller)."""
    app = FastAPI(title="facert study", version=__version__, docs_url=None, redoc_url=None)
    _add_error_handlers(app)
    _add_rating(app, study, db, options)
    _add_images(app, study, db, options)
    _add_results(app, study, db, options)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "methods": list(study.methods), "items": len(study.items)}

    return app


def _session_of(db: StudyDB, request: Request, given: str | None = None) -> Session | None:
    """The session named by ``given``, else by ``?session=``, else by the cookie (None: none)."""
    sid = given or request.query_params.get("session") or request.cookies.get(COOKIE)
    return db.session(sid) if sid else None


def _add_rating(app: FastAPI, study: StudySet, db: StudyDB, options: StudyOptions) -> None:
    html = page()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request) -> Response:
        response = HTMLResponse(html, headers={"Cache-Control": "no-store"})
        session = _session_of(db, request)
        if session is not None:
            _set_cookie(response, session.id)
        return response

    @app.get("/api/state")
    def get_state(request: Request) -> dict[str, Any]:
        return _state(study, options, _session_of(db, request))

    @app.post("/api/sessions")
    def new_session(body: NewSession, response: Response) -> dict[str, Any]:
        rater = " ".join(body.rater.split()) or options.rater or "anonymous"
        seed = secrets.randbits(31)
        sid = db.create_session(rater, seed, plan(study, seed))
        _set_cookie(response, sid)
        return _state(study, options, db.session(sid))

    @app.post("/api/votes")
    def vote(body: NewVote, request: Request) -> dict[str, Any]:
        session = _session_of(db, request, body.session)
        if session is None:
            raise RequestError(404, "unknown_session", "no rater session: start one at /")
        try:
            recorded = db.vote(session.id, body.position, body.choice, body.seconds)
        except VoteError as exc:
            status = 409 if exc.reason == "conflict" else 404
            raise RequestError(status, exc.reason, str(exc)) from None
        return {"recorded": recorded, **_state(study, options, db.session(session.id))}


def _add_images(app: FastAPI, study: StudySet, db: StudyDB, options: StudyOptions) -> None:
    @app.get("/api/image/{sid}/{position}/{side}")
    def image(sid: str, position: int, side: Literal["a", "b", "input", "clean"]) -> Response:
        path = _image_path(study, options, db.session(sid), position, side)
        media = BROWSER_TYPES.get(path.suffix.lower())
        headers = {"Cache-Control": "private, max-age=3600"}
        if media is not None:
            return FileResponse(path, media_type=media, headers=headers)
        data = _as_png(path, options.max_pixels)  # TIFF: browsers do not show it
        return Response(data, media_type="image/png", headers=headers)


def _add_results(app: FastAPI, study: StudySet, db: StudyDB, options: StudyOptions) -> None:
    def results() -> tuple[Results, int]:
        rows = db.votes()
        return results_of(study.methods, rows, options.draws), len({r.session for r in rows})

    @app.get("/api/results")
    def get_results() -> dict[str, Any]:
        return results_json(*results())

    @app.get("/results", response_class=HTMLResponse, include_in_schema=False)
    def results_page() -> str:
        return results_html(*results())

    @app.get("/votes.csv", response_class=PlainTextResponse)
    def csv_export() -> Response:
        disposition = 'attachment; filename="votes.csv"'
        return Response(
            votes_csv(db.votes()),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": disposition},
        )


def _set_cookie(response: Response, sid: str) -> None:
    response.set_cookie(COOKIE, sid, max_age=365 * 86400, httponly=True, samesite="strict")


def _state(study: StudySet, options: StudyOptions, session: Session | None) -> dict[str, Any]:
    """What the page shows: the start form (no session), a comparison, or the end."""
    base: dict[str, Any] = {"rater": options.rater, "session": None, "task": None}
    if session is None:
        return base
    position = session.next_position
    base.update(session=session.id, rater=session.rater, total=len(session.tasks))
    base["done"] = len(session.voted)
    if position is None:
        return base
    task = session.tasks[position]
    item = study.item(task.item)
    sides = ["a", "b"]
    if item is not None and item.input is not None:
        sides.append("input")
    if options.show_clean and item is not None and item.clean is not None:
        sides.append("clean")
    urls = {side: f"api/image/{session.id}/{position}/{side}" for side in sides}
    base["task"] = {"position": position, "item": task.item, "images": urls}
    return base


def _image_path(
    study: StudySet, options: StudyOptions, session: Session | None, position: int, side: str
) -> Path:
    if session is None or not 0 <= position < len(session.tasks):
        raise RequestError(404, "not_found", "no such rater session or comparison")
    task = session.tasks[position]
    item = study.item(task.item)
    path = None
    if item is not None:
        if side in ("a", "b"):
            path = item.files.get(task.a if side == "a" else task.b)
        elif side == "input" or options.show_clean:
            path = item.input if side == "input" else item.clean
    if path is None:
        raise RequestError(404, "not_found", f"comparison {position} has no image {side!r}")
    return path


def _as_png(path: Path, max_pixels: int) -> bytes:
    return encode_image(read_image(path, max_pixels), ".png")


def _add_error_handlers(app: FastAPI) -> None:
    def error(status: int, code: str, message: str) -> Response:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> Response:
        return error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        reasons = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', '')}"
            for e in exc.errors()
        ]
        return error(400, "bad_request", "; ".join(reasons))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))
