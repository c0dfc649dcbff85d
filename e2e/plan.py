"""Which e2e steps a run takes: the ordered groups of e2e/run.py cut down by `ONLY=` or `FROM=`.

A step names what must have run before it (its group's `needs`, plus its own); a selection adds those
prerequisites, transitively, and then runs everything in the one list's order. Nothing here starts a
process: tests/e2e/test_plan.py checks it without a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from e2e.harness import Run


class PlanError(Exception):
    """A selection or a group list that cannot run; the message is one line."""


@dataclass(frozen=True)
class Step:
    name: str
    """What `ONLY=` and `FROM=` take: the function's name with dashes."""
    title: str
    """What the log and the timing table show."""
    action: Callable[[Run], None]
    needs: tuple[str, ...] = ()
    """Steps that must have run first, beyond the group's."""


def step(title: str, needs: Sequence[str] = ()) -> Callable[[Callable[[Run], None]], Step]:
    """Declare a step: `@step("pulumi preview with the policy pack")` above `def preview(run: Run) -> None`."""

    def declare(action: Callable[[Run], None]) -> Step:
        return Step(action.__name__.replace("_", "-"), title, action, tuple(needs))

    return declare


@dataclass(frozen=True)
class Group:
    name: str
    steps: tuple[Step, ...]
    needs: tuple[str, ...] = ()
    """Steps every step of the group needs run before it (and pulled in when the group runs alone)."""
    after: Mapping[str, str] = field(default_factory=dict)
    """Groups that must come earlier in the list when both run, each with the reason."""
    destroys: bool = False
    """It tears the stack down: the last group, and skipped under E2E_KEEP."""
    on_demand: bool = False
    """Left out of the full run: it runs when ONLY= names it or one of its steps, or FROM= starts inside it."""


def validate(groups: Sequence[Group]) -> None:
    """Refuse a list that would run a step before what it needs, or break a declared order."""
    seen_steps: set[str] = set()
    seen_groups: set[str] = set()
    names = [g.name for g in groups] + [s.name for g in groups for s in g.steps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PlanError(f"names used twice among the e2e groups and steps: {', '.join(duplicates)}")
    for index, group in enumerate(groups):
        if group.destroys and index != len(groups) - 1:
            raise PlanError(f"group {group.name} destroys the stack, so it must be last; {groups[-1].name} follows it")
        for earlier, reason in group.after.items():
            if earlier not in seen_groups:
                raise PlanError(f"group {group.name} must come after group {earlier}: {reason}")
        for member in group.steps:
            missing = [n for n in (*group.needs, *member.needs) if n not in seen_steps]
            if missing:
                raise PlanError(f"step {member.name} needs {', '.join(missing)}, which the list does not run before it")
            seen_steps.add(member.name)
        seen_groups.add(group.name)


def select(groups: Sequence[Group], only: str = "", start: str = "", keep: bool = False) -> list[Step]:
    """The steps to run, in list order: every step, or `only` (a group or a step), or `start` (a step or a group)
    and every later one; each with the steps it needs. `keep` leaves out what destroys the stack."""
    validate(groups)
    ordered = [(g, s) for g in groups for s in g.steps]
    if only and start:
        raise PlanError("give ONLY or FROM, not both")
    wanted = only or start
    if not wanted:
        chosen = {s.name for g, s in ordered if not g.on_demand}
    else:
        group_names = [g.name for g in groups]
        step_names = [s.name for _, s in ordered]
        if wanted not in group_names and wanted not in step_names:
            raise PlanError(
                f"unknown step or group {wanted!r}; groups: {', '.join(group_names)}; steps: {', '.join(step_names)}"
            )
        if only:
            chosen = {s.name for g, s in ordered if only in (g.name, s.name)}
        else:
            first = next(i for i, (g, s) in enumerate(ordered) if start in (g.name, s.name))
            home = ordered[first][0].name
            chosen = {s.name for g, s in ordered[first:] if not g.on_demand or g.name == home}
    chosen |= prerequisites(groups, chosen)
    return [s for g, s in ordered if s.name in chosen and not (keep and g.destroys)]


def prerequisites(groups: Sequence[Group], names: Iterable[str]) -> set[str]:
    """Every step that `names` need, directly or through the steps they need."""
    needs = {s.name: (*g.needs, *s.needs) for g in groups for s in g.steps}
    found: set[str] = set()
    pending = [n for name in names for n in needs[name]]
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending.extend(needs[name])
    return found


def describe(groups: Sequence[Group]) -> str:
    """The list as `--list` prints it: groups, their steps and titles, what each group needs."""
    lines: list[str] = []
    for group in groups:
        notes = [f"needs {', '.join(group.needs)}"] if group.needs else []
        notes += [f"after {name}: {reason}" for name, reason in group.after.items()]
        notes += ["skipped under E2E_KEEP"] if group.destroys else []
        notes += [f"only when named: make e2e ONLY={group.name}"] if group.on_demand else []
        lines.append(group.name + (f"  ({'; '.join(notes)})" if notes else ""))
        lines += [f"  {s.name:<22} {s.title}" for s in group.steps]
    return "\n".join(lines)
