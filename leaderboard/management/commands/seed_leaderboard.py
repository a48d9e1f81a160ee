"""Demo scores for the leaderboard (idempotent: does nothing if the board has players)."""

from __future__ import annotations

import random

from django.core.management.base import BaseCommand
from redis.exceptions import RedisError

from config.redis import get_redis
from leaderboard import keys, services
from leaderboard.boards import BOARDS

NAMES = ["ada", "alan", "barbara", "claude", "dennis", "donald", "edsger", "frances", "grace", "guido",
         "john", "ken", "linus", "margaret", "niklaus", "radia", "richard", "shafi", "tim", "yukihiro"]


class Command(BaseCommand):
    help = "Load demo scores into the leaderboard boards (skipped when a board already has players)."

    def handle(self, *args, **options) -> None:
        rng = random.Random(2026)
        try:
            for board in BOARDS:
                if get_redis().zcard(keys.best_key(board)):
                    self.stdout.write(f"leaderboard {board}: already has players, left as is")
                    continue
                for name in NAMES:
                    for _ in range(rng.randint(1, 3)):
                        services.score_submit(board=board, player=name, points=rng.randint(1500, 4200))
                services.friends_add(board=board, player="ada", friend="grace")
                services.friends_add(board=board, player="ada", friend="alan")
                self.stdout.write(f"leaderboard {board}: {len(NAMES)} demo players loaded")
        except RedisError as exc:
            self.stderr.write(f"leaderboard: Redis unavailable, no demo data loaded ({exc})")
