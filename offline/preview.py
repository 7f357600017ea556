"""Offline preview: evaluate the real program for a stack, without cloud credentials or the
Pulumi CLI, and show what it would deploy.

    python -m offline.preview --stack dev                  # tree, capacity, order, warnings
    python -m offline.preview --settings my-stack.yaml     # any Pulumi.<stack>.yaml-shaped file
    python -m offline.preview --stack dev --manifests out/ --policy --json plan.json

Nothing reaches the network (AGENT_SANDBOX_OFFLINE=0 lets the control plane download its release
manifest). Exit codes: 0 fine; 1 a check failed (an invalid manifest, a mandatory policy
violation); 2 the settings or the command line are wrong (the message names the setting and the
fix).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from components import constants as c

from .engine import (
    PROJECT_DIR,
    Plan,
    StackFileError,
    evaluate,
    load_yaml,
    platform_references,
    project_config,
    referenced_platform_stack,
    stack_config,
    stack_file_config,
)
from .manifest_files import (
    PLACEHOLDER,
    apply_commands,
    plan_files,
    validate_files,
    write_files,
)
from .plan_view import opaque_steps, plan_json, plural, render, render_warnings
from .validate import UpstreamMissingError

OK, FAILED, BAD_SETTINGS = 0, 1, 2


class UsageError(Exception):
    """A problem with the command line or the settings file itself (exit 2)."""


def committed_stacks(project_dir: Path = PROJECT_DIR) -> list[str]:
    return sorted(p.name.split(".")[1] for p in project_dir.glob("Pulumi.*.yaml"))


def load_config(stack: str | None, settings: Path | None) -> tuple[str, dict[str, Any]]:
    """(stack name, flat config) for a committed stack or a Pulumi.<stack>.yaml-shaped file,
    read with the Pulumi CLI's YAML rules (duplicate keys and bare keys refused)."""
    if settings is None:
        name = stack or "dev"
        try:
            return name, stack_config(name)
        except FileNotFoundError:
            raise UsageError(
                f"no stack '{name}': there is no Pulumi.{name}.yaml in {PROJECT_DIR}; committed "
                f"stacks: {', '.join(committed_stacks()) or 'none'} (or pass --settings FILE)"
            ) from None
        except StackFileError as err:
            raise UsageError(str(err)) from None
    try:
        doc = load_yaml(settings)
    except OSError as err:
        raise UsageError(f"cannot read --settings {settings}: {err.strerror}") from None
    except StackFileError as err:
        raise UsageError(f"--settings {settings}: {err}") from None
    except yaml.YAMLError as err:
        raise UsageError(f"--settings {settings} is not valid YAML: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise UsageError(
            f"--settings {settings} must look like Pulumi.<stack>.yaml: a top-level 'config:' "
            "mapping of agent-sandbox-platform:<section> keys"
        )
    try:
        file_config = stack_file_config(doc, str(settings))
    except StackFileError as err:
        raise UsageError(str(err)) from None
    base = project_config()
    base.update(file_config)
    name = stack or settings.name.removeprefix("Pulumi.").removesuffix(".yaml")
    return name, base


def evaluate_config(stack: str, config: dict[str, Any], out: TextIO) -> Plan:
    """Evaluate ``config``; a tenant's StackReference is answered with the outputs of its
    platform stack evaluated offline, when that stack's file is in the repo."""
    # The Pulumi CLI runs the program in the project directory: paths in the settings
    # (controlPlane.manifest, cacheDir) resolve there, whatever directory the preview ran from.
    with contextlib.chdir(PROJECT_DIR):
        refs = platform_references(config, stack)
        for ref in refs.get("stack_references", {}):
            short = ref.split("/")[-1]
            note = f"(StackReference {ref} answered with the offline outputs of stack '{short}')"
            print(note, file=out)
        return evaluate(config, stack=stack, **refs)


def _unanswered_reference(stack: str, config: dict[str, Any], err: KeyError) -> str:
    """Why a tenant's platform stack could not be read offline, naming tenant.platformStack."""
    ref = referenced_platform_stack(config)
    if not ref:
        return str(err.args[0])
    short = ref.split("/")[-1]
    where = f"{c.PROJECT}:tenant.platformStack '{ref}'"
    if short == stack:
        return f"{where} names this stack itself; set it to the platform stack the tenant uses"
    if (PROJECT_DIR / f"Pulumi.{short}.yaml").exists():
        return (
            f"{where}: the platform stack '{short}' does not evaluate offline (see "
            f"`python -m offline.preview --stack {short}`); fix that stack first"
        )
    return (
        f"{where}: there is no Pulumi.{short}.yaml in the repo, so its outputs cannot be "
        f"computed offline (committed stacks: {', '.join(committed_stacks()) or 'none'}); point "
        "tenant.platformStack at one of them or add that stack's file"
    )


def run_policy(plan: Plan, config_path: Path | None, out: TextIO) -> int:
    """Print the policy pack's verdicts; FAILED when a mandatory policy is violated."""
    from . import policy  # imports the pack and pulumi_policy: only when asked for

    try:
        config = policy.load_config(config_path) if config_path is not None else None
        violations = policy.run_policies(plan, config)
    except (OSError, ValueError) as err:  # PolicyConfigError and bad JSON are ValueErrors
        raise UsageError(f"--policy-config: {err}") from None
    mandatory = [v for v in violations if v.mandatory]
    print(f"Policy pack: {len(violations)} violation(s), {len(mandatory)} mandatory", file=out)
    for v in sorted(violations, key=lambda v: (not v.mandatory, v.policy, v.name)):
        where = f"{v.type} {v.name}" if v.urn else "stack"
        print(f"  [{v.enforcement_level}] {v.policy}: {where}", file=out)
        print(f"      {v.message}", file=out)
    if mandatory:
        print(
            "  mandatory violations: `pulumi preview/up --policy-pack policies` would fail",
            file=out,
        )
    return FAILED if mandatory else OK


def run_manifests(plan: Plan, directory: Path, out: TextIO) -> int:
    files = plan_files(plan)
    problems = validate_files(files)
    count = sum(len(f.objects) for f in files)
    if problems:
        print(
            f"Manifests: {len(problems)} of {count} objects are invalid; nothing written", file=out
        )
        for where, errs in problems.items():
            print(f"  {where}", file=out)
            for err in errs:
                print(f"      {err}", file=out)
        return FAILED
    written = write_files(files, directory, plan.stack)
    print(
        f"Manifests: {count} objects, strictly valid, written in apply order to {directory}/",
        file=out,
    )
    for f, path in zip(files, written, strict=True):
        print(f"  {path.name}: {plural(len(f.objects), 'object')}", file=out)
    redacted = [line for f in files for line in f.redacted]
    if redacted:
        print(f"  Pulumi secrets written as placeholder '{PLACEHOLDER}'; fill in:", file=out)
        for line in redacted:
            print(f"      {line}", file=out)
    for reg in opaque_steps(plan):
        source = reg.inputs.get("file") or reg.inputs.get("files") or "its source"
        print(
            f"  not included: {reg.type} {reg.name} expands inside the provider, so its objects "
            f"are invisible offline and not in these files; apply {source} yourself",
            file=out,
        )
    print("  apply with (CRDs first, established before the resources that use them):", file=out)
    for command in apply_commands(files, directory):
        print(f"    {command}", file=out)
    return OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m offline.preview",
        description="Evaluate the program offline (mock engine: no cloud credentials, no Pulumi "
        "CLI, no network) and show the plan.",
        epilog="exit codes: 0 ok; 1 invalid manifest, a create the Kubernetes provider would "
        "refuse, or mandatory policy violation; "
        "2 invalid settings or command line",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--stack", help="a committed stack (Pulumi.<stack>.yaml); default: dev")
    src.add_argument(
        "--settings", type=Path, help="a settings file shaped like Pulumi.<stack>.yaml"
    )
    p.add_argument(
        "--manifests",
        type=Path,
        metavar="DIR",
        help="write every Kubernetes object as validated YAML, one NN-<component>.yaml per "
        "component, in apply order",
    )
    p.add_argument("--policy", action="store_true", help="run the policy pack's rules")
    p.add_argument(
        "--policy-config",
        type=Path,
        metavar="FILE",
        help="policy pack config JSON, as for pulumi --policy-pack-config",
    )
    p.add_argument(
        "--json", metavar="FILE", help="write the plan as JSON ('-' for stdout: no tree then)"
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="do not print the tree (warnings and errors are still printed, on stderr)",
    )
    return p


def _from_caller(path: Path | None) -> Path | None:
    """A path on the command line means the caller's directory, not the project's."""
    return None if path is None else Path.cwd() / path.expanduser()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.settings = _from_caller(args.settings)
    args.manifests = _from_caller(args.manifests)
    args.policy_config = _from_caller(args.policy_config)
    if args.json not in (None, "-"):
        args.json = str(_from_caller(Path(args.json)))
    # The preview never reaches the network: without a local copy of the agent-sandbox release
    # manifest the control plane shows as one unexpanded step, with a warning saying how to get
    # it. An explicit AGENT_SANDBOX_OFFLINE=0 allows the download.
    os.environ.setdefault(c.AGENT_SANDBOX_OFFLINE_ENV, "1")
    json_stdout = args.json == "-"
    out = sys.stderr if json_stdout else sys.stdout
    try:
        stack, config = load_config(args.stack, args.settings)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return BAD_SETTINGS

    try:
        plan = evaluate_config(stack, config, out if not args.quiet else sys.stderr)
    except StackFileError as err:  # the platform stack's file, read for a tenant's reference
        print(f"error: {err}", file=sys.stderr)
        return BAD_SETTINGS
    except KeyError as err:  # a StackReference nobody can answer offline
        print(f"error: {_unanswered_reference(stack, config, err)}", file=sys.stderr)
        return BAD_SETTINGS

    if args.json:
        text = json.dumps(plan_json(plan), indent=2, sort_keys=False) + "\n"
        if json_stdout:
            sys.stdout.write(text)
        else:
            try:
                Path(args.json).write_text(text)
            except OSError as err:
                print(f"error: cannot write --json {args.json}: {err.strerror}", file=sys.stderr)
                return BAD_SETTINGS
    if plan.error is not None:
        print(plan.error, file=sys.stderr)
        return BAD_SETTINGS
    shown = not (args.quiet or json_stdout)
    if shown:
        out.write(render(plan))
    elif plan.warnings:
        # -q (and --json -) hide the tree, never the warnings: they go to stderr.
        print("\n".join(render_warnings(plan)), file=sys.stderr)

    status = OK
    for failure in plan.failures:  # creates the Kubernetes provider would refuse (cluster_state)
        print(f"error: the Kubernetes provider would refuse this: {failure}", file=sys.stderr)
        status = FAILED
    try:
        if args.manifests is not None:
            print("\n" if shown else "", end="", file=out)
            status = max(status, run_manifests(plan, args.manifests, out))
            shown = True
        if args.policy:
            print("\n" if shown else "", end="", file=out)
            status = max(status, run_policy(plan, args.policy_config, out))
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return BAD_SETTINGS
    except OSError as err:  # --manifests names a file, or a directory we cannot write
        print(f"error: cannot write --manifests {args.manifests}: {err.strerror}", file=sys.stderr)
        return BAD_SETTINGS
    except UpstreamMissingError as err:
        print(f"error: cannot validate: {err}", file=sys.stderr)
        return FAILED
    return status


if __name__ == "__main__":
    sys.exit(main())
