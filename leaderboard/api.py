"""The leaderboard JSON API (paths fixed in DESIGN.md).

    POST /api/leaderboards/<board>/scores            {"player": "ada", "score": 870}
    GET  /api/leaderboards/<board>/top?limit=10&offset=0&view=best|total|daily|weekly|friends
    GET  /api/leaderboards/<board>/players/<player>?around=5&view=...
    POST /api/leaderboards/<board>/friends           {"player": "ada", "friend": "bob"}

``daily`` takes ``?day=YYYY-MM-DD`` and ``weekly`` ``?week=YYYY-Www`` (default: now);
``friends`` takes ``?player=`` on ``top``.  Errors are ``{"error", "detail"}``
with a 4xx status (404 for an unknown board or a player not on the board),
503 when Redis is down.  Views are thin: validation lives in ``boards``,
reads in ``selectors``, writes in ``services``.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from config.api import NotFound, api_view, json_body
from leaderboard import selectors, services
from leaderboard.boards import InvalidInput

REDIS_DOWN = "the leaderboard store is unavailable; try again shortly"


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"invalid_{name}", f"{name} must be an integer") from None


def _ref(request: HttpRequest, board: str, player: str | None = None) -> selectors.BoardRef:
    return selectors.board_ref(board=board, view=request.GET.get("view", "best"), day=request.GET.get("day"),
                               week=request.GET.get("week"), player=player or request.GET.get("player"))


@api_view("POST", redis_detail=REDIS_DOWN)
def submit_score(request: HttpRequest, board: str) -> JsonResponse:
    data = json_body(request)
    result = services.score_submit(board=board, player=data.get("player"), points=data.get("score"))
    return JsonResponse({
        "board": result.board, "player": result.player, "score": result.points,
        "best": result.best, "rank": result.best_rank, "total": result.total, "total_rank": result.total_rank,
        "top10_changed": list(result.changed_views),
    }, status=201)


@api_view("GET", "HEAD", redis_detail=REDIS_DOWN)
def top(request: HttpRequest, board: str) -> JsonResponse:
    ref = _ref(request, board)
    entries = selectors.board_top(ref, limit=_int_param(request, "limit", 10), offset=_int_param(request, "offset", 0))
    return JsonResponse([e.as_dict() for e in entries], safe=False)


@api_view("GET", "HEAD", redis_detail=REDIS_DOWN)
def player(request: HttpRequest, board: str, player: str) -> JsonResponse:
    ref = _ref(request, board, player if request.GET.get("view") == "friends" else None)
    standing = selectors.board_player(ref, player=player, around=_int_param(request, "around", 0))
    if standing is None:
        raise NotFound(f"{player!r} has no score on this board", code="player_not_found")
    return JsonResponse({
        "board": board, "view": ref.view, "period": ref.period, "player": standing.player,
        "rank": standing.rank, "score": standing.score, "around": [e.as_dict() for e in standing.around],
    })


@api_view("POST", redis_detail=REDIS_DOWN)
def add_friend(request: HttpRequest, board: str) -> JsonResponse:
    data = json_body(request)
    services.friends_add(board=board, player=data.get("player"), friend=data.get("friend"))
    return JsonResponse({"board": board, "player": data["player"], "friend": data["friend"]}, status=201)
