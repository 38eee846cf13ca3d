"""deploy/kubernetes without a cluster: the manifests parse, set only settings that exist (and valid values),
and hold together: no hostNetwork, media ports published UDP+TCP on the same numbers the workers announce,
the node's address from the downward API, readiness on /readyz, a PodDisruptionBudget, a preStop."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from relayroom.config import load_settings
from tests.deploy.settings_env import image_settings, unknown_setting

MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]
    return docs


def one(kind: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


def walk(node: Any) -> list[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a document."""
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in [(k, v), *walk(v)]]
    if isinstance(node, list):
        return [pair for item in node for pair in walk(item)]
    return []


def test_every_manifest_file_is_listed_and_parses() -> None:
    files = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]) == files
    kinds = {d["kind"] for d in documents()}
    assert {"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget"} <= kinds


def test_nodes_run_without_host_network_or_host_ports() -> None:
    for doc in documents():
        for key, value in walk(doc):
            assert not (key == "hostNetwork" and value), doc["metadata"]["name"]
            assert key != "hostPort", doc["metadata"]["name"]


def test_settings_exist_and_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = documents()
    config_map = one("ConfigMap", docs)
    config = config_map["data"]
    pod = one("StatefulSet", docs)["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["envFrom"] == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]
    names = [*config, *(e["name"] for e in container["env"])]
    assert [unknown_setting(n) for n in names if unknown_setting(n)] == []
    # the values validate too: image ENV, ConfigMap, then env (placeholders where the cluster fills in)
    for k in list(os.environ):
        if k.startswith("RELAYROOM_"):
            monkeypatch.delenv(k)
    filled = {"status.hostIP": "203.0.113.10", "database-url": "postgresql+asyncpg://u:p@db:5432/r"}
    filled["turn-secret"] = "0123456789abcdef0123456789abcdef"
    env = {**image_settings(), **config}
    for e in container["env"]:
        source = e.get("valueFrom", {})
        env[e["name"]] = (
            e.get("value")
            or filled[source.get("fieldRef", {}).get("fieldPath") or source["secretKeyRef"]["key"]]
        )
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    settings = load_settings()
    assert settings.media.announced_ip == "203.0.113.10" and settings.media.host == "0.0.0.0"
    assert settings.turn.enabled and settings.database_url is not None


def test_media_goes_through_a_node_port_service_on_the_ports_the_workers_announce() -> None:
    docs = documents()
    config = one("ConfigMap", docs)["data"]
    workers = int(config["RELAYROOM_MEDIA__WORKERS"])
    media_ports = yaml.safe_load(config["RELAYROOM_MEDIA__PORTS"])[:workers]
    assert len(media_ports) == workers
    statefulset = one("StatefulSet", docs)
    pod = statefulset["spec"]["template"]
    [container] = pod["spec"]["containers"]
    announced = [e for e in container["env"] if e["name"] == "RELAYROOM_MEDIA__ANNOUNCED_IP"]
    assert announced[0]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"  # the downward API
    exposed = {(p["containerPort"], p["protocol"]) for p in container["ports"]}
    [media] = [
        d for d in docs if d["kind"] == "Service" and d["spec"]["type"] in ("NodePort", "LoadBalancer")
    ]
    assert media["spec"]["externalTrafficPolicy"] == "Local"  # a node's traffic to the pod on that node
    labels = pod["metadata"]["labels"]
    assert media["spec"]["selector"].items() <= labels.items()
    served = {(p["nodePort"], p["protocol"]) for p in media["spec"]["ports"]}
    for p in media["spec"]["ports"]:
        assert p["port"] == p["targetPort"] == p["nodePort"]  # the announced port is the reached port
        assert 30000 <= p["nodePort"] <= 32767
    for port in media_ports:
        for proto in ("UDP", "TCP"):  # TCP: the ICE-TCP fallback on the same number
            assert (port, proto) in served and (port, proto) in exposed
    # one pod per node: two pods on a node would both announce its address and share its node ports
    anti = pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["topologyKey"] == "kubernetes.io/hostname"


def test_probes_disruption_budget_drain_and_a_non_root_pod() -> None:
    docs = documents()
    statefulset = one("StatefulSet", docs)
    pod = statefulset["spec"]["template"]
    [container] = pod["spec"]["containers"]
    http = one("ConfigMap", docs)["data"]["RELAYROOM_PORT"]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    paths = {"startupProbe": "/healthz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    for probe, path in paths.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path and str(named.get(get["port"], get["port"])) == http
    assert container["lifecycle"]["preStop"]["exec"]["command"]
    assert pod["spec"]["terminationGracePeriodSeconds"] >= 30
    pdb = one("PodDisruptionBudget", docs)
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # master.key and signing.key live in the data directory: it is a persistent volume
    data_dir = image_settings()["RELAYROOM_DATA_DIR"]
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == data_dir]
    assert mount["name"] in {t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]}
