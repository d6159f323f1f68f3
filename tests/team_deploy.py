"""A team deployment in processes: a standalone sandbox, N ``cwm-gateway serve --transport http``
instances on one PostgreSQL, nginx round-robin in front (used by the deploy test and the bench).

nginx is Debian's package: installed with apt-get when missing and possible; otherwise the
caller skips (or fails under CI=true) with the reason :func:`nginx_binary` raises.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cwm_gateway.sandbox.auth import SandboxCredentials
from cwm_gateway.sandbox.runner import API_PREFIX

GATEWAY = [sys.executable, "-m", "cwm_gateway.cli"]


class Unavailable(Exception):
    """A component of the deployment cannot run on this machine (the message says why)."""


def nginx_binary() -> str:
    """The nginx executable, installing Debian's package first when it is missing."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise Unavailable("nginx is not installed and cannot be (needs apt-get as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = subprocess.run(
        [apt, "install", "-y", "-q", "nginx"], capture_output=True, text=True, env=env, timeout=600
    )
    if install.returncode != 0:
        subprocess.run([apt, "update", "-q"], capture_output=True, env=env, timeout=600)
        install = subprocess.run(
            [apt, "install", "-y", "-q", "nginx"],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if not found:
        raise Unavailable(f"apt-get install nginx failed: {install.stderr.strip()[-300:]}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready at {url}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


NGINX_CONF = """
worker_processes 1;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream gateways {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://gateways;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


@dataclass
class Deployment:
    sandbox_url: str
    """The sandbox's site root (its request log is at /__sandbox/requests)."""
    instances: list[str]
    """Each gateway's own base URL."""
    url: str
    """The front door: nginx when there is more than one instance, else the one gateway."""
    state_url: str
    procs: list[subprocess.Popen] = field(default_factory=list, repr=False)


def sandbox_env(base_url: str) -> dict[str, str]:
    creds = SandboxCredentials()
    return {
        "CONNECTWISE_API_URL": base_url,
        "CONNECTWISE_COMPANY_ID": creds.company,
        "CONNECTWISE_PUBLIC_KEY": creds.public_key,
        "CONNECTWISE_PRIVATE_KEY": creds.private_key,
        "CONNECTWISE_CLIENT_ID": creds.client_id,
    }


@contextmanager
def deploy(
    tmp: Path,
    state_url: str,
    *,
    instances: int = 3,
    policy: Path | None = None,
    nginx: str | None = None,
    sandbox_url: str | None = None,
) -> Iterator[Deployment]:
    """Start the sandbox (unless given), ``instances`` gateways and (for several) nginx."""
    procs: list[subprocess.Popen] = []
    logs = tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def spawn(args: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        procs.append(proc)
        return proc

    try:
        if sandbox_url is None:
            port = free_port()
            proc = spawn(GATEWAY + ["sandbox", "--port", str(port)], "sandbox")
            sandbox_url = f"http://127.0.0.1:{port}"
            _wait(f"{sandbox_url}/__sandbox/requests", proc, "the sandbox")
        env = {
            **os.environ,
            **sandbox_env(sandbox_url + API_PREFIX),
            "CWM_GATEWAY_STATE_URL": state_url,
        }
        urls = []
        for i in range(instances):
            port = free_port()
            args = GATEWAY + [
                "serve",
                "--transport",
                "http",
                "--port",
                str(port),
                "--auth",
                "api-keys",
            ]
            if policy is not None:
                args += ["--policy", str(policy)]
            proc = spawn(args, f"gateway-{i}", env)
            urls.append((f"http://127.0.0.1:{port}", proc))
        for i, (url, proc) in enumerate(urls):
            _wait(f"{url}/readyz", proc, f"gateway {i}")
        front = urls[0][0]
        if instances > 1:
            root = tmp / "nginx"
            root.mkdir(exist_ok=True)
            port = free_port()
            servers = "\n".join(f"        server {u.removeprefix('http://')};" for u, _ in urls)
            (root / "nginx.conf").write_text(
                NGINX_CONF.format(root=root, servers=servers, port=port)
            )
            proc = spawn(
                [
                    nginx or nginx_binary(),
                    "-p",
                    str(root),
                    "-c",
                    str(root / "nginx.conf"),
                    "-g",
                    "daemon off;",
                ],
                "nginx",
            )
            front = f"http://127.0.0.1:{port}"
            _wait(f"{front}/healthz", proc, "nginx")
        yield Deployment(sandbox_url, [u for u, _ in urls], front, state_url, procs)
    finally:
        for proc in reversed(procs):
            _stop(proc)
