"""Start, reach and stop the local AWS emulator (moto's server on 127.0.0.1).

In Python:

    with Emulator() as emulator:
        session = emulator.session()            # boto3 session bound to the emulator
        subprocess.run(cmd, env=emulator.environ())  # AWS_ENDPOINT_URL for boto3 and amazon.aws

From the shell:

    python -m tools.emulator run -- ansible-playbook playbooks/optimize.yml -e suffix=dev
    python -m tools.emulator start --state-file .emulator.json   # in the background
    python -m tools.emulator stop --state-file .emulator.json

Every AWS call is counted in a ledger (tools/api_quotas.py): `emulator.ledger.snapshot()` in this process,
`GET {endpoint}/lambdaopt-api/ledger` from others. Quota mode answers calls above AWS's default API request
quotas with the service's throttling error: `Emulator(quotas="aws")`, `--quotas aws`, or at run time
`emulator.enforce_quotas("aws", scale=0.1)` / `POST {endpoint}/lambdaopt-api/quotas {"quotas": "aws"}`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from tools import emulator_patches
from tools.api_quotas import AWS, ApiQuotas, Ledger, QuotaTable

DEFAULT_REGION = "us-east-1"
# moto's default account; other accounts are reached by assuming a role in them.
DEFAULT_ACCOUNT_ID = "123456789012"
READY_TIMEOUT_SECONDS = 30.0
# The emulator accepts any credentials; these keep boto3 from looking for real ones.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class EmulatorError(RuntimeError):
    """The emulator did not start or cannot be reached."""


def wait_until_ready(endpoint: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Poll the emulator's own API until it answers, or raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError) as error:
            if time.monotonic() > deadline:
                raise EmulatorError(f"the emulator at {endpoint} did not answer within {timeout:.0f} s") from error
        time.sleep(0.05)


def require_local_endpoint(environ: dict[str, str] | None = None) -> str:
    """The emulator endpoint from AWS_ENDPOINT_URL; refuse anything but loopback, so tools that
    write fake resources and history never reach a real AWS account."""
    endpoint = (environ if environ is not None else os.environ).get("AWS_ENDPOINT_URL", "")
    host = urllib.parse.urlsplit(endpoint).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(
            "AWS_ENDPOINT_URL must point at the local emulator (e.g. run through "
            "`python -m tools.emulator run -- ...`); use `pulumi up` for a real account"
        )
    return endpoint


class _MeteredMotoServer(ThreadedMotoServer):
    """moto's threaded server with the API quota middleware in front of moto's application."""

    def __init__(self, api_quotas: ApiQuotas, ip_address: str, port: int) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self._api_quotas = api_quotas

    def _server_entry(self) -> None:
        # As moto's own, but for the middleware around the application.
        app = self._api_quotas.wrap(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


class Emulator:
    """moto's server with the AWS-fidelity patches, running in a thread of this process.

    `quotas="aws"` starts it in quota mode (see tools/api_quotas.py); its ledger counts every call either way."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, region: str = DEFAULT_REGION,
                 quotas: str | None = None) -> None:
        self.host = host
        self.port = port
        self.region = region
        self.api_quotas = ApiQuotas(quotas)
        self._server: ThreadedMotoServer | None = None

    @property
    def ledger(self) -> Ledger:
        """Calls per account, Region, service and operation: `snapshot()` and `reset()`."""
        return self.api_quotas.ledger

    def enforce_quotas(self, quotas: str | QuotaTable | None, scale: float = 1.0) -> None:
        """Quota mode at run time: "aws", a QuotaTable (e.g. `load_quotas().only(name)`), or None for off;
        `scale` 0.1 allows a tenth of AWS's rates and counts. The emulator's reset puts back the start-up mode."""
        self.api_quotas.enforce(quotas, scale)

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise EmulatorError("the emulator is not running")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self) -> str:
        emulator_patches.apply()
        # Access logs and the tracebacks of requests moto cannot serve (answered with a 500, which the
        # client sees) would drown the output of whatever uses the emulator.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        self._server = _MeteredMotoServer(self.api_quotas, ip_address=self.host, port=self.port)
        self._server.start()
        wait_until_ready(self.endpoint)
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reset(self) -> None:
        """Forget every resource in every account, as a fresh emulator would; the ledger empties and quota mode
        goes back to the one the emulator started with."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a child process (boto3, Ansible, amazon.aws) to use the emulator."""
        environment = dict(os.environ if base is None else base)
        environment.update(EMULATOR_CREDENTIALS)
        environment.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_DEFAULT_REGION=self.region,
            AWS_REGION=self.region,
        )
        return environment

    def session(self, region: str | None = None) -> boto3.Session:
        return emulator_session(self.endpoint, region or self.region)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def emulator_session(endpoint: str, region: str = DEFAULT_REGION, account_id: str | None = None) -> boto3.Session:
    """A boto3 session whose clients talk to the emulator, in moto's default account or,
    by assuming a role there, in `account_id`."""
    session = _session_at(endpoint, region, EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    if account_id is None or account_id == DEFAULT_ACCOUNT_ID:
        return session
    credentials = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/lambdaopt-automation",
        RoleSessionName="lambdaopt",
    )["Credentials"]
    return _session_at(endpoint, region, credentials["AccessKeyId"], credentials["SecretAccessKey"],
                       credentials["SessionToken"])


class EmulatorSession(boto3.Session):
    """A boto3 session whose clients and resources talk to the emulator, whatever the process's
    environment says."""

    def __init__(self, endpoint: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint

    def client(self, *args: object, **kwargs: object):
        kwargs.setdefault("endpoint_url", self.endpoint)
        return super().client(*args, **kwargs)

    def resource(self, *args: object, **kwargs: object):
        kwargs.setdefault("endpoint_url", self.endpoint)
        return super().resource(*args, **kwargs)


def _session_at(endpoint: str, region: str, key: str, secret: str, token: str | None = None) -> EmulatorSession:
    return EmulatorSession(endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                           aws_session_token=token, region_name=region)


def _serve(args: argparse.Namespace) -> int:
    emulator = Emulator(port=args.port, region=args.region, quotas=args.quotas)
    endpoint = emulator.start()
    if args.state_file:
        Path(args.state_file).write_text(json.dumps({"endpoint": endpoint, "pid": os.getpid()}))
    print(endpoint, flush=True)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    emulator.stop()
    if args.state_file:
        Path(args.state_file).unlink(missing_ok=True)
    return 0


def _run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("nothing to run: give a command after '--'")
    with Emulator(port=args.port, region=args.region, quotas=args.quotas) as emulator:
        print(f"AWS emulator at {emulator.endpoint}", flush=True)
        return subprocess.run(command, env=emulator.environ(), check=False).returncode


def _start(args: argparse.Namespace) -> int:
    state_file = Path(args.state_file)
    state_file.unlink(missing_ok=True)
    # The server must not hold the caller's pipes open, or a caller reading them would never finish.
    log = open(state_file.with_suffix(".log"), "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.emulator", "serve", "--port", str(args.port), "--region", args.region,
         "--state-file", str(state_file), *(["--quotas", args.quotas] if args.quotas else [])],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the emulator did not start; see {log.name}")
        time.sleep(0.05)
    endpoint = json.loads(state_file.read_text())["endpoint"]
    wait_until_ready(endpoint)
    print(endpoint)
    return 0


def _stop(args: argparse.Namespace) -> int:
    state_file = Path(args.state_file)
    if not state_file.exists():
        print("no emulator is running for this state file")
        return 0
    pid = json.loads(state_file.read_text())["pid"]
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        state_file.unlink(missing_ok=True)
        return 0
    # `serve` removes the state file as its last act, once the server has shut down.
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while state_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"the emulator (pid {pid}) did not stop")
        time.sleep(0.05)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.emulator", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="action", required=True)
    for name, handler, summary in (
        ("serve", _serve, "run the emulator in the foreground until interrupted"),
        ("run", _run, "run a command with the emulator up and AWS_ENDPOINT_URL set, then stop it"),
        ("start", _start, "start the emulator in the background and print its endpoint"),
        ("stop", _stop, "stop an emulator started with 'start'"),
    ):
        command = commands.add_parser(name, help=summary)
        command.set_defaults(handler=handler)
        if name != "stop":
            command.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
            command.add_argument("--region", default=DEFAULT_REGION)
            command.add_argument("--quotas", choices=[AWS], help="answer calls above AWS's default API request "
                                 "quotas with the service's throttling error (default: no quotas)")
        if name in ("serve", "start", "stop"):
            command.add_argument("--state-file", required=name != "serve", help="where endpoint and pid are kept")
        if name == "run":
            command.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
