"""deploy/: the manifests validate offline against the Kubernetes schemas, and the
capabilities they grant are the set measured on a real agent (deploy/capabilities.json,
re-checked on the kernel by tests/kernel/test_agent_caps.py).

The schemas are kubernetes-validate's (the test extra), for a pinned Kubernetes
version: no API server runs here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.caps import recorded

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.31.0"  # pinned: the schemas ship with kubernetes-validate


def documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        with path.open(encoding="utf-8") as f:
            docs.extend(d for d in yaml.safe_load_all(f) if d)
    return docs


def daemonset() -> dict[str, Any]:
    (ds,) = [d for d in documents() if d["kind"] == "DaemonSet"]
    return ds


def agent_container() -> dict[str, Any]:
    (c,) = daemonset()["spec"]["template"]["spec"]["containers"]
    assert isinstance(c, dict)
    return c


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_document_is_valid_kubernetes(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_broken_manifest_is_refused_by_the_same_validator() -> None:
    """The validation can fail: a misspelt field and a wrong type are both caught."""
    ds = json.loads(json.dumps(daemonset()))
    ds["spec"]["template"]["spec"]["hostNetwrk"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, K8S_VERSION, strict=True)
    ds = json.loads(json.dumps(daemonset()))
    ds["spec"]["template"]["spec"]["hostPID"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, K8S_VERSION, strict=True)


def test_capabilities_are_the_measured_set_and_nothing_broader() -> None:
    sc = agent_container()["securityContext"]
    granted = sorted(f"CAP_{c}" for c in sc["capabilities"]["add"])
    assert granted == sorted(recorded())
    assert sc["capabilities"]["drop"] == ["ALL"]
    # allowPrivilegeEscalation stays unset: the API server refuses false beside CAP_SYS_ADMIN.
    assert sc.get("privileged") is False


def test_host_namespaces_and_the_mounts_the_agent_reads() -> None:
    spec = daemonset()["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True and spec["hostPID"] is True
    vols = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in agent_container()["volumeMounts"]}
    host = {vols[n]["hostPath"]["path"]: path for n, path in mounts.items() if "hostPath" in vols[n]}
    assert host == {"/sys/kernel/btf": "/sys/kernel/btf", "/sys/kernel/tracing": "/sys/kernel/tracing",
                    "/sys/kernel/debug": "/sys/kernel/debug", "/run/netns": "/run/netns"}
    assert vols["tls"]["secret"]["secretName"] == "brtrace-agent-tls"


def test_the_agent_is_started_with_tls_and_client_authentication() -> None:
    """A non-loopback agent without them refuses to start (tracer/agent/security.py)."""
    args = agent_container()["args"]
    assert any(a.startswith("--listen=$(POD_IP):") for a in args)
    for opt in ("--tls-cert=", "--tls-key=", "--tls-ca="):
        assert any(a.startswith(opt) for a in args), opt


def test_the_client_role_only_reads_pods() -> None:
    (role,) = [d for d in documents() if d["kind"] == "Role"]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    (sa,) = [d for d in documents() if d["kind"] == "ServiceAccount"]
    assert sa["automountServiceAccountToken"] is False


def test_k8s_finds_what_the_manifest_deploys() -> None:
    """``--k8s``'s defaults (tracer/remote/k8s.py) select exactly these pods, on the port named grpc."""
    from tracer.remote.k8s import DEFAULT_NAMESPACE, DEFAULT_PORT, DEFAULT_SELECTOR, PORT_NAME

    ds = daemonset()
    key, _, value = DEFAULT_SELECTOR.partition("=")
    assert ds["metadata"]["namespace"] == DEFAULT_NAMESPACE
    assert ds["spec"]["template"]["metadata"]["labels"][key] == value
    (port,) = agent_container()["ports"]
    assert port["name"] == PORT_NAME and port["containerPort"] == DEFAULT_PORT
