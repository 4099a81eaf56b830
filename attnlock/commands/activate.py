"""``attnlock activate`` / ``attnlock deactivate``: guard every later plain install in this environment.

activate plans for this environment (the installed torch kept), writes the plan's constraints
to a file attnlock owns and points pip at it through the environment's own pip.conf; for uv
it prints ``export UV_CONSTRAINT=…`` on stdout, so ``eval "$(attnlock activate)"`` guards both.
deactivate removes exactly what activate added (:mod:`attnlock.install.guard`).
"""

from __future__ import annotations

import argparse
import shlex
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``attnlock activate`` (target options are added by the caller)."""
    p.add_argument("--with", dest="with_", metavar="LIST",
                   help="packages to constrain, comma separated (default: every covered package)")
    p.add_argument("--shell", choices=("sh", "fish", "powershell"), default="sh",
                   help="syntax of the UV_CONSTRAINT line printed on stdout (default: sh)")


def _uv_line(shell: str, path: str | None) -> str:
    if path is None:
        return {"sh": "unset UV_CONSTRAINT", "fish": "set -e UV_CONSTRAINT",
                "powershell": "Remove-Item Env:UV_CONSTRAINT"}[shell]
    return {"sh": f"export UV_CONSTRAINT={shlex.quote(path)}", "fish": f"set -gx UV_CONSTRAINT {shlex.quote(path)}",
            "powershell": "$env:UV_CONSTRAINT = '" + path.replace("'", "''") + "'"}[shell]


def run(args: argparse.Namespace) -> int:
    from attnlock.commands.install import plan_for_environment
    from attnlock.emit import regenerate_command, render_constraints
    from attnlock.install import guard
    from attnlock.install.environment import PythonEnvironment

    env = PythonEnvironment.current()
    names = None
    if args.with_:
        from attnlock.commands.install import _requested

        names = _requested([p.strip() for p in args.with_.split(",") if p.strip()])
    _target, plan, _db = plan_for_environment(args, names)
    text = render_constraints(plan, command=regenerate_command(plan, "constraints"))
    inherited = guard.inherited_constraints(env)
    state = guard.activate(env, text, inherited=inherited)
    print(f"attnlock activate: {len(plan.pins)} pins in {state.constraints}", file=sys.stderr)
    print(f"attnlock activate: pip in {env.prefix} now obeys them ({state.pip_config})", file=sys.stderr)
    if inherited:
        print(f"attnlock activate: kept the constraint files pip already used: {' '.join(inherited)}", file=sys.stderr)
    if not env.is_venv:
        print("attnlock activate: warning: this is not a virtual environment; the guard applies to every pip "
              f"run by {env.executable}", file=sys.stderr)
    print("attnlock activate: uv reads no pip configuration: run the line printed on stdout "
          '(eval "$(attnlock activate)") to guard uv too', file=sys.stderr)
    print(_uv_line(args.shell, str(state.constraints)))
    return 0


def run_deactivate(args: argparse.Namespace) -> int:
    from attnlock.install import guard
    from attnlock.install.environment import PythonEnvironment

    env = PythonEnvironment.current()
    if guard.deactivate(env):
        print(f"attnlock deactivate: removed the guard from {env.prefix}", file=sys.stderr)
    else:
        print(f"attnlock deactivate: no guard was active in {env.prefix}", file=sys.stderr)
    shell = getattr(args, "shell", "sh")
    if sys.stdout.isatty():
        # Printed to a terminal, the line below changes nothing: uv would keep reading a deleted file.
        print(f"attnlock deactivate: uv still reads UV_CONSTRAINT in this shell; run: {_eval_recipe(shell)}",
              file=sys.stderr)
    print(_uv_line(shell, None))
    return 0


def _eval_recipe(shell: str) -> str:
    """How to run ``attnlock deactivate`` so that its stdout line takes effect in the user's shell."""
    return {"sh": 'eval "$(attnlock deactivate)"', "fish": "attnlock deactivate --shell fish | source",
            "powershell": "attnlock deactivate --shell powershell | Invoke-Expression"}[shell]
