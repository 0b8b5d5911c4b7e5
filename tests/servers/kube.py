"""A real Kubernetes control plane for the tests: etcd + kube-apiserver + kube-controller-manager on loopback.

The binaries come from ``tests/servers/build_kube.sh`` (built once per machine from Debian's ``kubernetes``
source package, cached in ``$AEGIS_K8S_CACHE``, default ``/var/cache/aegis-k8s``). Every session gets free
ports, a private data folder and two static-less identities:

- ``admin``: a static token in ``system:masters``; the tests use it to arrange the world (namespaces, pods,
  Deployments) and to act as the kubelet would (pod status through the status subresource);
- ``aegis``: the token of the ``aegis`` ServiceAccount from ``deploy/aegis-rbac.yaml`` (applied as it is), bound
  in each test namespace with that file's RoleBinding: Aegis runs with exactly that role.

There is no scheduler and no kubelet: pods stay ``Pending`` until a test patches their status.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("AEGIS_K8S_CACHE", "/var/cache/aegis-k8s"))
BUILD_SCRIPT = Path(__file__).with_name("build_kube.sh")
RBAC_MANIFEST = REPO / "deploy" / "aegis-rbac.yaml"
START_TIMEOUT_S = 60


def free_port() -> int:
    """A port nobody listens on now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_binaries() -> Path:
    """The folder holding kube-apiserver and kube-controller-manager, building them first when missing."""
    subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, timeout=3600)
    return CACHE / "bin"


def kubeconfig(server: str, ca_file: Path, token: str) -> str:
    """A one-context kubeconfig for ``server`` authenticating with bearer ``token``."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
            "users": [{"name": "test", "user": {"token": token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        }
    )


@dataclass
class KubeCluster:
    """A running control plane; build API clients with :meth:`api` (admin) or use :attr:`aegis_kubeconfig`."""

    folder: Path
    server: str
    ca_file: Path
    admin_kubeconfig: Path
    aegis_kubeconfig: Path = Path()
    version: str = ""
    processes: list[subprocess.Popen] = field(default_factory=list)

    def api(self, kubeconfig_path: Path | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin (default) or another kubeconfig; its own Configuration."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(
            config_file=str(kubeconfig_path or self.admin_kubeconfig), client_configuration=configuration
        )
        return client.ApiClient(configuration)

    def connection(self) -> str:
        """An Airflow connection (JSON, for ``AIRFLOW_CONN_…``) of type kubernetes, as Aegis would be given."""
        return json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(self.aegis_kubeconfig)}})

    def grant(self, namespace: str) -> None:
        """Bind Aegis's role in ``namespace`` with the RoleBinding of ``deploy/aegis-rbac.yaml``."""
        from kubernetes import utils

        for doc in rbac_documents():
            if doc["kind"] == "RoleBinding":
                doc["metadata"]["namespace"] = namespace
                utils.create_from_dict(self.api(), doc)

    def stop(self) -> None:
        """Stop controller-manager, API server and etcd (in that order) and remove the data folder."""
        for proc in reversed(self.processes):
            stop_process(proc)
        self.processes.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def rbac_documents() -> list[dict[str, Any]]:
    """The YAML documents of ``deploy/aegis-rbac.yaml``."""
    return [d for d in yaml.safe_load_all(RBAC_MANIFEST.read_text()) if d]


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL after 10 s; always reaped."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _parent_death_signal() -> Any:
    """A child-side hook: get SIGTERM when the test process dies, however it dies (Linux ``PR_SET_PDEATHSIG``),
    so a killed pytest leaves no server behind. Resolved here so the child only makes the C call."""
    import ctypes
    import functools

    return functools.partial(ctypes.CDLL(None, use_errno=True).prctl, 1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


_DIE_WITH_PARENT = _parent_death_signal()


def spawn(argv: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    """Start ``argv`` in its own process group (stopped with :func:`stop_process`, or when the test process
    dies), output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_DIE_WITH_PARENT,
            cwd=cwd,
        )  # noqa: PLW1509


def wait_until(what: str, probe, procs: list[subprocess.Popen], folder: Path, timeout_s: float = START_TIMEOUT_S):
    """Call ``probe()`` until it returns a truthy value; fail naming ``what`` (with the logs' tails) otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            break
        try:
            value = probe()
            if value:
                return value
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.3)
    tails = "\n".join(
        f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        for log in sorted(folder.glob("*.log"))
    )
    raise RuntimeError(f"test Kubernetes: {what} did not come up within {timeout_s:g}s\n{tails}")


def start_cluster(bin_dir: Path) -> KubeCluster:
    """etcd, kube-apiserver (RBAC, static admin token) and kube-controller-manager on free loopback ports."""
    folder = Path(tempfile.mkdtemp(prefix="aegis-kube-"))
    etcd_client, etcd_peer, api_port = free_port(), free_port(), free_port()
    admin_token = secrets.token_hex(16)
    (folder / "tokens.csv").write_text(f"{admin_token},admin,admin,system:masters\n")
    subprocess.run(["openssl", "genrsa", "-out", str(folder / "sa.key"), "2048"], check=True, capture_output=True)
    subprocess.run(
        ["openssl", "rsa", "-in", str(folder / "sa.key"), "-pubout", "-out", str(folder / "sa.pub")],
        check=True,
        capture_output=True,
    )
    procs: list[subprocess.Popen] = []
    cluster = KubeCluster(
        folder,
        f"https://127.0.0.1:{api_port}",
        folder / "certs" / "apiserver.crt",
        folder / "admin.kubeconfig",
        processes=procs,
    )
    try:
        procs.append(
            spawn(
                [
                    "etcd",
                    "--name",
                    "t",
                    "--data-dir",
                    str(folder / "etcd"),
                    "--listen-client-urls",
                    f"http://127.0.0.1:{etcd_client}",
                    "--advertise-client-urls",
                    f"http://127.0.0.1:{etcd_client}",
                    "--listen-peer-urls",
                    f"http://127.0.0.1:{etcd_peer}",
                    "--initial-advertise-peer-urls",
                    f"http://127.0.0.1:{etcd_peer}",
                    "--initial-cluster",
                    f"t=http://127.0.0.1:{etcd_peer}",
                ],
                folder / "etcd.log",
            )
        )
        procs.append(
            spawn(
                [
                    str(bin_dir / "kube-apiserver"),
                    f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={api_port}",
                    "--insecure-port=0",
                    f"--cert-dir={folder / 'certs'}",
                    f"--token-auth-file={folder / 'tokens.csv'}",
                    "--authorization-mode=RBAC",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-account-key-file={folder / 'sa.pub'}",
                    f"--service-account-signing-key-file={folder / 'sa.key'}",
                    "--service-cluster-ip-range=10.0.0.0/24",
                    "--disable-admission-plugins=ServiceAccount",
                    "--allow-privileged=true",
                ],
                folder / "kube-apiserver.log",
            )
        )
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # only until the CA file exists

        def ready() -> bool:
            request = urllib.request.Request(
                f"{cluster.server}/readyz", headers={"Authorization": f"Bearer {admin_token}"}
            )
            return urllib.request.urlopen(request, timeout=2, context=context).status == 200

        wait_until("kube-apiserver /readyz", ready, procs, folder)
        cluster.admin_kubeconfig.write_text(kubeconfig(cluster.server, cluster.ca_file, admin_token))
        procs.append(
            spawn(
                [
                    str(bin_dir / "kube-controller-manager"),
                    f"--kubeconfig={cluster.admin_kubeconfig}",
                    "--leader-elect=false",
                    "--port=0",
                    "--secure-port=0",
                    f"--service-account-private-key-file={folder / 'sa.key'}",
                    f"--root-ca-file={cluster.ca_file}",
                    "--controllers=*,-nodeipam,-cloud-node-lifecycle",
                ],
                folder / "kube-controller-manager.log",
            )
        )
        from kubernetes import client

        api = cluster.api()
        cluster.version = client.VersionApi(api).get_code().git_version
        cluster.aegis_kubeconfig = folder / "aegis.kubeconfig"
        cluster.aegis_kubeconfig.write_text(kubeconfig(cluster.server, cluster.ca_file, apply_rbac(api, procs, folder)))
        return cluster
    except BaseException:
        cluster.stop()
        raise


def apply_rbac(api: Any, procs: list[subprocess.Popen], folder: Path) -> str:
    """Apply ``deploy/aegis-rbac.yaml`` (all but the per-namespace RoleBinding); the ServiceAccount's token
    (its Secret is made by the controller-manager's token controller)."""
    from kubernetes import client, utils

    documents = rbac_documents()
    for doc in documents:
        if doc["kind"] != "RoleBinding":
            utils.create_from_dict(api, doc)
    account = next(d for d in documents if d["kind"] == "ServiceAccount")["metadata"]
    core = client.CoreV1Api(api)

    def token() -> str | None:
        sa = core.read_namespaced_service_account(account["name"], account["namespace"], _request_timeout=5)
        for ref in sa.secrets or []:
            secret = core.read_namespaced_secret(ref.name, account["namespace"], _request_timeout=5)
            if secret.data and secret.data.get("token"):
                return base64.b64decode(secret.data["token"]).decode()
        return None

    return wait_until("the aegis ServiceAccount token (kube-controller-manager)", token, procs, folder)


def running_cluster() -> Iterator[KubeCluster]:
    """Build if needed, start, yield, stop: the body of the session fixture."""
    started = time.monotonic()
    cluster = start_cluster(ensure_binaries())
    from tests.servers import ANSWERED

    ANSWERED.append(
        f"Kubernetes: kube-apiserver {cluster.version} (+ kube-controller-manager, etcd "
        f"{etcd_version()}) at {cluster.server}, up in {time.monotonic() - started:.1f}s"
    )
    try:
        yield cluster
    finally:
        cluster.stop()


def etcd_version() -> str:
    """``etcd --version``'s first line, shortened (``3.4.23``)."""
    out = subprocess.run(["etcd", "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    return out.splitlines()[0].split()[-1] if out else "?"


# ------------------------------------------------------------------ playing the kubelet (there is none)
def container_status(
    name: str,
    *,
    ready: bool = True,
    restarts: int = 0,
    state: str = "running",
    reason: str | None = None,
    image: str = "example/app:1",
) -> dict[str, Any]:
    """One ``containerStatuses`` entry as a kubelet reports it (camelCase JSON)."""
    details: dict[str, dict[str, Any]] = {
        "running": {"startedAt": "2026-01-01T00:00:00Z"},
        "waiting": {"reason": reason},
        "terminated": {"exitCode": 1, "reason": reason},
    }
    detail = details[state]
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "image": image,
        "imageID": "",
        "started": state == "running",
        "state": {state: detail},
    }


def set_pod_status(
    core: Any, namespace: str, name: str, phase: str, containers: list[dict[str, Any]] | None = None
) -> None:
    """Patch pod ``name``'s status through the status subresource, as the kubelet would: phase, container
    statuses and the Ready / ContainersReady conditions that follow from them."""
    containers = containers or []
    ready = bool(containers) and all(c["ready"] for c in containers) and phase == "Running"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    conditions = [
        {"type": kind, "status": "True" if ready else "False", "lastTransitionTime": now}
        for kind in ("Ready", "ContainersReady")
    ]
    core.patch_namespaced_pod_status(
        name,
        namespace,
        {
            "status": {
                "phase": phase,
                "conditions": conditions,
                "containerStatuses": containers or None,
                "startTime": now,
            }
        },
        _request_timeout=10,
    )


class Kubelet:
    """A background thread playing the kubelet for one namespace: every pod whose containers all run an image of
    ``ready_images`` is set Running and Ready; pods running any other image are set crash-looping (Running, not
    Ready, CrashLoopBackOff), so a rollout to them never finishes. Use as a context manager."""

    def __init__(self, cluster: KubeCluster, namespace: str, ready_images: set[str], poll_s: float = 0.3):
        import threading

        from kubernetes import client

        self.core = client.CoreV1Api(cluster.api())
        self.namespace, self.ready_images, self.poll_s = namespace, set(ready_images), poll_s
        self.seen: dict[str, str] = {}  # pod name -> the state it was given
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-kubelet", daemon=True)

    def __enter__(self) -> Kubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a pod deleted under us: next round
                pass
            self._stop.wait(self.poll_s)

    def tick(self) -> None:
        """One round: give every pod not handled yet the state its images call for."""
        for pod in self.core.list_namespaced_pod(self.namespace, _request_timeout=10).items:
            name = pod.metadata.name
            if name in self.seen or pod.metadata.deletion_timestamp is not None:
                continue
            images = [c.image for c in pod.spec.containers]
            if all(image in self.ready_images for image in images):
                state = "ready"
                statuses = [container_status(c.name, image=c.image) for c in pod.spec.containers]
            else:
                state = "crash-looping"
                statuses = [
                    container_status(
                        c.name, image=c.image, ready=False, state="waiting", reason="CrashLoopBackOff", restarts=3
                    )
                    for c in pod.spec.containers
                ]
            set_pod_status(self.core, self.namespace, name, "Running", statuses)
            self.seen[name] = state


def deployment(name: str, container: str, image: str, replicas: int = 2) -> Any:
    """A ``V1Deployment`` of ``replicas`` pods labelled ``app=<name>`` running ``image``."""
    from kubernetes import client

    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name=container, image=image)]),
            ),
        ),
    )


def wait_for_deployment(cluster: KubeCluster, namespace: str, name: str, timeout_s: float = 60) -> Any:
    """Wait until the Deployment's status shows every replica updated and available; return it."""
    from kubernetes import client

    apps = client.AppsV1Api(cluster.api())
    deadline = time.monotonic() + timeout_s
    while True:
        dep = apps.read_namespaced_deployment_status(name, namespace, _request_timeout=10)
        st, want = dep.status, dep.spec.replicas
        if (
            (st.observed_generation or 0) >= dep.metadata.generation
            and (st.updated_replicas or 0) == want
            and (st.available_replicas or 0) == want
            and (st.replicas or 0) == want
        ):
            return dep
        if time.monotonic() > deadline:
            raise TimeoutError(f"deployment {namespace}/{name} not available within {timeout_s}s: {st}")
        time.sleep(0.3)
