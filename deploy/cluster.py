"""``make cluster`` (``python -m deploy.cluster``): loginsite as it is deployed, on this machine.

HAProxy terminates TLS with a locally generated certificate and balances three loginsite
instances (``pserve deploy/loginsite.ini``, production settings), health-checked on
``/readyz``; the instances share a revocation list in Redis behind Sentinel (a primary, a
replica and three Sentinels, all requiring a password). The development provider
(``deploy/devidp.ini``) stands in for login.gov, so sign-in works offline.

Secrets (session key rings, the provider client's key, the Redis and Sentinel passwords) are
generated at every start into the git-ignored runtime folder (``var/cluster/``) and handed to
the processes through environment variables and files, as a real deployment would. The TLS
certificate authority is kept between runs (trust ``var/cluster/tls/ca.pem`` once); the server
certificate is issued from it at every start.

:class:`Cluster` is also what ``tests/test_cluster.py`` drives: it starts the same processes on
free ports, kills and restarts instances, and reads their logs.
"""

from __future__ import annotations

import argparse
import csv
import io
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from deploy.processes import START_TIMEOUT, ClusterError, Instance, Service, wait_for
from deploy.tls import issue_tls
from localservers.redis_server import RedisServer, SentinelServer
from loginsite import credentials

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
DEFAULT_WORKDIR = ROOT / "var" / "cluster"
INSTANCES = ("app1", "app2", "app3")
SENTINEL_MASTER = "loginsite"  # deploy/loginsite.ini's loginsite.revocation.sentinel_master
CLIENT_ID = "urn:gov:gsa:openidconnect.profiles:sp:sso:dev:loginsite"


@dataclass(frozen=True)
class Ports:
    """Every address of the cluster, on 127.0.0.1."""

    https: int
    stats: int
    apps: tuple[int, ...]
    metrics: tuple[int, ...]
    devidp: int
    redis: tuple[int, int]  # primary, replica
    sentinels: tuple[int, int, int]

    @classmethod
    def fixed(cls, https: int = 8443) -> Ports:
        """``make cluster``'s: the same every run, so a Prometheus scrape list stays valid."""
        return cls(
            https=https,
            stats=8404,
            apps=(6601, 6602, 6603),
            metrics=(9601, 9602, 9603),
            devidp=6610,
            redis=(6390, 6391),
            sentinels=(26390, 26391, 26392),
        )

    @classmethod
    def free(cls) -> Ports:
        """Free ports, all different (the tests, which may run beside a ``make cluster``)."""
        n = len(INSTANCES)
        ports = iter(distinct_free_ports(2 + 2 * n + 1 + 2 + 3))
        return cls(
            https=next(ports),
            stats=next(ports),
            apps=tuple(next(ports) for _ in INSTANCES),
            metrics=tuple(next(ports) for _ in INSTANCES),
            devidp=next(ports),
            redis=(next(ports), next(ports)),
            sentinels=(next(ports), next(ports), next(ports)),
        )

    def all(self) -> list[int]:
        return [
            self.https,
            self.stats,
            *self.apps,
            *self.metrics,
            self.devidp,
            *self.redis,
            *self.sentinels,
        ]


def distinct_free_ports(count: int) -> list[int]:
    """``count`` ports free now, no two the same (every socket is held until all are bound)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# -- secrets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Secrets:
    """Generated at every start: the list in Redis starts empty too, so nothing signed with
    the previous run's keys (a session signed out then) can come back."""

    session_keys_file: Path
    devidp_session_keys_file: Path
    client_key_file: Path
    redis_password: str
    sentinel_password: str

    @classmethod
    def generate(cls, folder: Path) -> Secrets:
        folder.mkdir(parents=True)
        folder.chmod(0o700)
        made = cls(
            session_keys_file=folder / "session-keys",
            devidp_session_keys_file=folder / "devidp-session-keys",
            client_key_file=folder / "client-private.pem",
            redis_password=secrets.token_urlsafe(32),
            sentinel_password=secrets.token_urlsafe(32),
        )
        credentials.write_secret_file(
            made.session_keys_file, credentials.new_session_key_entry() + "\n"
        )
        credentials.write_secret_file(
            made.devidp_session_keys_file, credentials.new_session_key_entry() + "\n"
        )
        credentials.write_secret_file(
            made.client_key_file,
            credentials.private_key_pem(credentials.generate_client_key()),
        )
        # Files too, for redis-cli -a "$(cat ...)" and for a look at what the instances get.
        credentials.write_secret_file(folder / "redis-password", made.redis_password + "\n")
        credentials.write_secret_file(folder / "sentinel-password", made.sentinel_password + "\n")
        return made


# -- the cluster -------------------------------------------------------------------------------


class Cluster:
    """``start()`` brings everything up (or ``start_redis``, ``start_apps``, ``start_balancer``
    one after the other), ``stop()`` takes it down in reverse."""

    def __init__(
        self,
        workdir: Path = DEFAULT_WORKDIR,
        ports: Ports | None = None,
        *,
        access_log_level: str = "INFO",
    ) -> None:
        self.workdir = workdir
        self.ports = ports or Ports.fixed()
        self.access_log_level = access_log_level
        self.public_url = f"https://localhost:{self.ports.https}"
        self.logs = workdir / "logs"
        self.redis: list[RedisServer] = []
        self.sentinels: list[SentinelServer] = []
        self.instances: list[Instance] = []
        self.devidp: Service | None = None
        self.balancer: Service | None = None
        self.secrets: Secrets | None = None
        self.ca_file = workdir / "tls" / "ca.pem"

    # -- start -----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Check what is needed, clear the last run's state (the CA is kept), make secrets."""
        for program in ("haproxy", "redis-server", "redis-sentinel"):
            if shutil.which(program) is None:
                raise ClusterError(
                    f"{program} is not installed: run `make system-deps` "
                    "(Debian: apt-get install haproxy redis-server redis-sentinel)"
                )
        taken = [port for port in self.ports.all() if port_in_use(port)]
        if taken:
            raise ClusterError(
                f"ports already in use on 127.0.0.1: {', '.join(map(str, taken))} "
                "(another `make cluster`? stop it first, or choose `make cluster PORT=...` "
                "for the https port)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        for child in self.workdir.iterdir():
            if child.name != "tls":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        self.ca_file, self._server_pem = issue_tls(self.workdir / "tls")
        self.secrets = Secrets.generate(self.workdir / "secrets")

    def start(self) -> Cluster:
        self.start_redis()
        self.start_apps()
        self.start_balancer()
        self.wait_sentinels_agree()
        return self

    def start_redis(self) -> None:
        """The primary, its replica, and three Sentinels (quorum 2) watching the primary; they
        find each other meanwhile (:meth:`wait_sentinels_agree`)."""
        if self.secrets is None:
            self.prepare()
        assert self.secrets is not None
        password = self.secrets.redis_password
        primary_port, replica_port = self.ports.redis
        primary = RedisServer(
            workdir=self._dir("redis-primary"),
            port=primary_port,
            password=password,
            own_session=True,
        )
        self.redis.append(primary.start())
        replica = RedisServer(
            workdir=self._dir("redis-replica"),
            port=replica_port,
            password=password,
            replica_of=primary_port,
            own_session=True,
        )
        self.redis.append(replica.start())
        wait_for(
            "the Redis replica in sync with the primary",
            lambda: replica.client().info("replication").get("master_link_status") == "up",
            30,
        )
        for number, port in enumerate(self.ports.sentinels, start=1):
            sentinel = SentinelServer(
                workdir=self._dir(f"sentinel-{number}"),
                master_port=primary_port,
                name=SENTINEL_MASTER,
                down_after=2000,
                quorum=2,
                port=port,
                master_password=password,
                password=self.secrets.sentinel_password,
                own_session=True,
            )
            self.sentinels.append(sentinel.start())

    def wait_sentinels_agree(self) -> None:
        """Until every Sentinel knows the two others and the replica: only then can they agree
        on a failover (a few of their 2-second hello rounds after they start)."""
        wait_for("the Sentinels to know each other and the replica", self._sentinels_agree, 60)

    def _sentinels_agree(self) -> bool:
        for sentinel in self.sentinels:
            master = sentinel.client().sentinel_master(SENTINEL_MASTER)
            if master.get("num-other-sentinels") != len(self.sentinels) - 1:
                return False
            if master.get("num-slaves") != 1:
                return False
        return True

    def start_apps(self) -> None:
        """The development provider and the three instances; back once each is ready."""
        assert self.secrets is not None
        pserve = str(Path(sys.executable).with_name("pserve"))
        self.devidp = Service(
            name="devidp",
            argv=[pserve, str(DEPLOY / "devidp.ini"), f"http_listen=127.0.0.1:{self.ports.devidp}"],
            log=self.logs / "devidp.log",
            cwd=self._dir("devidp"),
            env={
                "LOGINSITE_PUBLIC_URL": self.public_url,
                "LOGINSITE_SESSION_KEYS_FILE": str(self.secrets.devidp_session_keys_file),
                "LOGINSITE_IDP_CLIENT_ID": CLIENT_ID,
                "LOGINSITE_IDP_PRIVATE_KEY": str(self.secrets.client_key_file),
                "LOGINSITE_DEVIDP_DATA_DIR": str(self._dir("devidp")),
                "REQUESTS_CA_BUNDLE": str(self.ca_file),
            },
        )
        self.devidp.start()
        sentinels = " ".join(f"127.0.0.1:{port}" for port in self.ports.sentinels)
        for name, port, metrics_port in zip(
            INSTANCES, self.ports.apps, self.ports.metrics, strict=True
        ):
            home = self._dir(name)
            instance = Instance(
                name=name,
                argv=[
                    pserve,
                    str(DEPLOY / "loginsite.ini"),
                    f"http_listen=127.0.0.1:{port}",
                    f"access_log_level={self.access_log_level}",
                ],
                log=self.logs / f"{name}.log",
                cwd=home,
                port=port,
                metrics_port=metrics_port,
                env={
                    "LOGINSITE_PUBLIC_URL": self.public_url,
                    "LOGINSITE_SESSION_KEYS_FILE": str(self.secrets.session_keys_file),
                    "LOGINSITE_IDP_ISSUER": f"{self.public_url}/_devidp/",
                    "LOGINSITE_IDP_CLIENT_ID": CLIENT_ID,
                    "LOGINSITE_IDP_PRIVATE_KEY": str(self.secrets.client_key_file),
                    "LOGINSITE_REVOCATION_SENTINELS": sentinels,
                    "LOGINSITE_REVOCATION_REDIS_PASSWORD": self.secrets.redis_password,
                    "LOGINSITE_REVOCATION_SENTINEL_PASSWORD": self.secrets.sentinel_password,
                    "LOGINSITE_REVOCATION_JOURNAL": str(home / "revocation-journal.sqlite3"),
                    "LOGINSITE_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
                    # The provider is reached through the load balancer's TLS.
                    "REQUESTS_CA_BUNDLE": str(self.ca_file),
                },
            )
            instance.start()
            self.instances.append(instance)
        wait_for("the development provider", self._devidp_answers, START_TIMEOUT)
        for instance in self.instances:
            instance.wait_ready()

    def _devidp_answers(self) -> bool:
        assert self.devidp is not None
        if not self.devidp.running:
            raise ClusterError(f"devidp exited:\n{self.devidp.log_text()[-3000:]}")
        try:
            requests.get(f"http://127.0.0.1:{self.ports.devidp}/healthz", timeout=2)
        except requests.RequestException:
            return False
        return True

    def start_balancer(self) -> None:
        """HAProxy; back once it counts every instance and the provider UP."""
        self.balancer = Service(
            name="haproxy",
            argv=["haproxy", "-db", "-f", str(DEPLOY / "haproxy.cfg")],
            log=self.logs / "haproxy.log",
            cwd=self.workdir,
            env={
                "CLUSTER_HTTPS_BIND": f"127.0.0.1:{self.ports.https}",
                "CLUSTER_CERT": str(self._server_pem),
                "CLUSTER_STATS_BIND": f"127.0.0.1:{self.ports.stats}",
                "CLUSTER_DEVIDP": f"127.0.0.1:{self.ports.devidp}",
                **{
                    f"CLUSTER_{name.upper()}": f"127.0.0.1:{port}"
                    for name, port in zip(INSTANCES, self.ports.apps, strict=True)
                },
            },
        )
        self.balancer.start()
        expected = dict.fromkeys((*INSTANCES, "devidp"), "UP")
        wait_for(
            "HAProxy counting every instance UP",
            lambda: self.server_states() == expected,
            START_TIMEOUT,
            self.balancer.log,
        )

    def server_states(self) -> dict[str, str]:
        """HAProxy's view of each server (``UP``, ``DOWN``, ...), from its stats listener;
        empty while it does not answer."""
        if self.balancer is None or not self.balancer.running:
            log = "" if self.balancer is None else self.balancer.log_text()[-3000:]
            raise ClusterError(f"haproxy is not running:\n{log}")
        try:
            answer = requests.get(f"http://127.0.0.1:{self.ports.stats}/;csv", timeout=2)
        except requests.RequestException:
            return {}
        rows = csv.DictReader(io.StringIO(answer.text.lstrip("# ")))
        return {
            row["svname"]: row["status"].split()[0]
            for row in rows
            if row["svname"] not in ("FRONTEND", "BACKEND")
            and row["pxname"] in ("loginsite", "devidp")
        }

    def instance(self, name: str) -> Instance:
        return next(instance for instance in self.instances if instance.name == name)

    # -- stop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """The load balancer first (no new requests), then the instances, the provider, the
        Sentinels and Redis."""
        for service in (self.balancer, *self.instances, self.devidp):
            if service is not None:
                service.stop()
        for sentinel in self.sentinels:
            sentinel.close()
        for server in reversed(self.redis):
            server.close()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers ---------------------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def summary(self) -> Iterator[str]:
        workdir = _shown(self.workdir)
        yield f"loginsite cluster is up ({workdir}/):"
        yield f"  site       {self.public_url}/  (TLS by HAProxy; trust {_shown(self.ca_file)})"
        yield "  sign in    with the development provider standing in for login.gov"
        for instance in self.instances:
            yield (
                f"  {instance.name}       {instance.url}  metrics {instance.metrics_url}"
                f"  (pid {instance.pid})"
            )
        stats = f"http://127.0.0.1:{self.ports.stats}"
        yield f"  haproxy    stats {stats}/  metrics {stats}/metrics"
        primary, replica = self.ports.redis
        sentinels = " ".join(map(str, self.ports.sentinels))
        yield f"  redis      primary :{primary}, replica :{replica}, sentinels :{sentinels}"
        yield f"  secrets    {workdir}/secrets/ (new every start)"
        yield f"  logs       {workdir}/logs/ (JSON lines from the instances)"
        yield "Ctrl-C stops everything."


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def supervise(cluster: Cluster) -> None:
    """Restart an instance that dies, as systemd's Restart=always would (the load balancer
    keeps it out until it is ready again); stop if anything else dies."""
    while True:
        time.sleep(1)
        for instance in cluster.instances:
            if not instance.running:
                code = instance.process.returncode if instance.process else None
                print(f"{instance.name} exited ({code}); restarting it", flush=True)
                instance.start()
        others = [cluster.balancer, cluster.devidp]
        if any(service is not None and not service.running for service in others):
            dead = [s.name for s in others if s is not None and not s.running]
            raise ClusterError(f"{', '.join(dead)} exited; see {_shown(cluster.logs)}/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description=__doc__)
    parser.add_argument("--port", type=int, default=8443, help="the https port (8443)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    # SIGTERM (systemd, a CI runner, kill) stops the cluster like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    cluster = Cluster(args.workdir, Ports.fixed(https=args.port))
    try:
        print("starting Redis, Sentinels, the instances and HAProxy ...", flush=True)
        cluster.start()
        print("\n".join(cluster.summary()), flush=True)
        supervise(cluster)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    except ClusterError as exc:
        print(f"make cluster: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
