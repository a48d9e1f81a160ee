"""compose.yaml's sentinel and cluster profiles build the topologies of lab_sentinel and lab_cluster.

No Docker here: this reads the file the way Compose does (YAML, merge keys, profiles) and checks the
topology each profile starts and the settings the app needs to use it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def _profile(name: str) -> dict[str, dict]:
    return {k: v for k, v in SERVICES.items() if name in v.get("profiles", [])}


def _command(service: dict) -> str:
    cmd = service["command"]
    return " ".join(cmd) if isinstance(cmd, list) else cmd


def test_sentinel_profile_is_one_master_two_replicas_three_sentinels():
    services = _profile("sentinel")
    replicas = [s for s in services.values() if "--replicaof redis 6379" in _command(s)]
    sentinels = [s for s in services.values() if "--sentinel" in _command(s)]
    assert len(replicas) == 2 and len(sentinels) == 3
    for s in sentinels:
        assert "sentinel monitor mymaster redis 6379 2" in _command(s)  # quorum 2 of 3, as in the lab
    assert {s["environment"]["SENTINEL_NAME"] for s in sentinels} == {"sentinel-1", "sentinel-2", "sentinel-3"}
    assert "redis" not in services  # the master is the default `redis` service


def test_cluster_profile_is_six_nodes_made_by_redis_cli():
    services = _profile("cluster")
    nodes = [s for s in services.values() if "--cluster-enabled yes" in _command(s)]
    assert len(nodes) == 6
    init = _command(services["cluster-init"])
    assert "--cluster create" in init and "--cluster-replicas 1" in init and "for i in 1 2 3 4 5 6" in init


def test_the_app_services_take_the_ha_settings_from_the_environment():
    env = SERVICES["web"]["environment"]
    for name in ("REDIS_SENTINELS", "REDIS_CLUSTER_NODES", "CHANNEL_REDIS_URL"):
        assert env[name] == f"${{{name}:-}}"
    assert SERVICES["migrate"]["depends_on"]["cluster-init"] == {"condition": "service_completed_successfully",
                                                                  "required": False}
