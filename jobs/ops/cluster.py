"""The cluster commands: a local standalone Flink cluster, job submission and savepoint redeploys.

``python -m jobs cluster|render-conf|submit|jobs|stop|redeploy|deployments`` (or
``python -m jobs.ops.cluster <command>``). Dispatch only: the work is done in ``jobs/ops/``
(flink_dist, flink_conf, rest, lifecycle, releases, savepoints, deploy, ledger).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobs import settings as settings_module
from jobs.ops.deploy import redeploy, stop, submit
from jobs.ops.flink_conf import render_conf, state_overrides
from jobs.ops.flink_dist import ClusterError, ClusterPaths, IncompatiblePlanError, StartFailedError, rest_url
from jobs.ops.ledger import read_ledger
from jobs.ops.lifecycle import start_cluster, stop_cluster
from jobs.ops.rest import TERMINAL, cluster_running, list_jobs
from jobs.settings import Settings


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def _cmd_cluster(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "start":
        print(f"cluster up in {start_cluster(settings):.1f} s; REST {rest_url()}")
    elif args.action == "stop":
        print(f"cluster stopped in {stop_cluster(settings):.1f} s")
    else:
        print("running" if cluster_running() else "not running")
        return 0 if cluster_running() else 1
    return 0


def _cmd_render_conf(args: argparse.Namespace, settings: Settings) -> int:
    overrides: dict[str, Any] = state_overrides(settings)
    overrides.update(item.split("=", 1) for item in args.set)
    var_dir = Path(args.var_dir).resolve() if args.var_dir else ClusterPaths.of(settings).var_dir
    out = render_conf(
        var_dir,
        Path(args.out).resolve(),
        python=args.python,
        overrides=overrides,
        logging_files=not args.config_only,
    )
    print(out)
    return 0


def _pipeline(name: str) -> None:
    """Refuse a name that is not a pipeline of jobs/registry.py before anything is copied or run.

    Raises:
        ClusterError: no such pipeline (the message lists the names).
    """
    from jobs import registry  # the job modules import PyFlink: only for the commands that run one

    try:
        registry.get(name)
    except ValueError as exc:
        raise ClusterError(str(exc)) from exc


def _cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    _pipeline(args.job)
    deployment = submit(
        args.job, settings, args.savepoint, allow_non_restored=args.allow_non_restored
    )
    print(
        f"submitted {args.job} as {deployment.job_id} ({deployment.code_hash}) in {deployment.timings_s}"
    )
    return 0


def _cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    for job in list_jobs(settings):
        if args.all or job.state not in TERMINAL:
            print(f"{job.job_id}  {job.state:<12} {job.name}")
    return 0


def _cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    entry = stop(args.job, settings)
    print(f"stopped {args.job}; savepoint {entry.savepoint_taken}")
    return 0


def _cmd_redeploy(args: argparse.Namespace, settings: Settings) -> int:
    _pipeline(args.job)
    try:
        deployment = redeploy(args.job, settings, force=args.force)
    except IncompatiblePlanError as exc:
        print(str(exc), file=sys.stderr)
        return 3
    except StartFailedError as exc:
        print(str(exc), file=sys.stderr)
        return 4
    print(
        f"redeployed {args.job}: {deployment.previous_job_id} -> {deployment.job_id} from "
        f"{deployment.savepoint_taken} ({deployment.timings_s})"
    )
    return 0


def _cmd_deployments(args: argparse.Namespace, settings: Settings) -> int:
    entries = [e for e in read_ledger(settings) if not args.job or e["job_name"] == args.job]
    for e in entries:
        print(
            f"{e['at']}  {e['action']:<9} {e['job_name']:<16} {e['job_id']}  code={e['code_hash']}"
            f" git={e['git'] or '-'}  savepoint={e.get('savepoint_taken') or e.get('restored_from') or '-'}"
        )
    return 0


def register(subparsers: Any) -> None:
    """Add the cluster commands to an ``argparse`` subparsers object (``python -m jobs``).

    Every command sets ``func(args, settings) -> int`` as its handler.
    """
    p = subparsers.add_parser("cluster", help="start/stop/status of the local standalone cluster")
    p.add_argument("action", choices=("start", "stop", "status"))
    p.set_defaults(func=_cmd_cluster)

    p = subparsers.add_parser(
        "render-conf", help="write a runnable Flink conf dir from flink-conf/"
    )
    p.add_argument("--out", required=True, help="directory to write config.yaml into")
    p.add_argument("--var-dir", help="absolute state root (default: NETPULSE_VAR_DIR)")
    p.add_argument("--python", help="python.executable for client and workers (default: this venv)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key")
    p.add_argument(
        "--config-only", action="store_true", help="only config.yaml (no log4j, masters)"
    )
    p.set_defaults(func=_cmd_render_conf)

    p = subparsers.add_parser("submit", help="submit a job (flink run -d) from a release copy")
    p.add_argument("job")
    p.add_argument("--savepoint", help="restore from this savepoint / retained checkpoint")
    p.add_argument(
        "--allow-non-restored", action="store_true", help="drop unmatched savepoint state"
    )
    p.set_defaults(func=_cmd_submit)

    p = subparsers.add_parser("jobs", help="list the cluster's jobs")
    p.add_argument("--all", action="store_true", help="include finished/failed/cancelled jobs")
    p.set_defaults(func=_cmd_jobs)

    p = subparsers.add_parser("stop", help="stop a running job with a savepoint")
    p.add_argument("job")
    p.set_defaults(func=_cmd_stop)

    p = subparsers.add_parser(
        "redeploy", help="stop with savepoint, resubmit the current code from it"
    )
    p.add_argument("job")
    p.add_argument("--force", action="store_true", help="start even if savepoint state is dropped")
    p.set_defaults(func=_cmd_redeploy)

    p = subparsers.add_parser("deployments", help="show the deploy ledger (var/deployments.jsonl)")
    p.add_argument("job", nargs="?")
    p.set_defaults(func=_cmd_deployments)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.ops.cluster <command>``: the cluster commands on their own."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.ops.cluster", description=__doc__.splitlines()[0]
    )
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, settings_module.load()))
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
