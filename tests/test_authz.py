from __future__ import annotations

from dataclasses import dataclass

import pytest

from allsang.authz import ACTIONS, RANK, ROLE_NAMES, Actor, Forbidden, authorize, can


@dataclass
class Thing:
    workspace_id: int | None


def person(role: str, workspace_id: int = 1) -> Actor:
    return Actor(kind="person", label="p", workspace_id=workspace_id, role=role, person_id=7)


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("role", ROLE_NAMES)
def test_each_role_gets_exactly_the_actions_at_or_below_its_rank(action: str, role: str) -> None:
    needed = ACTIONS[action]
    if needed == "display":
        expected = True
    elif role == "display":
        expected = False
    else:
        expected = RANK[role] >= RANK[needed]
    assert can(person(role), action) is expected


def test_a_resource_in_another_workspace_is_forbidden_even_to_owners() -> None:
    with pytest.raises(Forbidden):
        authorize(person("owner", workspace_id=1), "workspace.update", Thing(workspace_id=2))


def test_anonymous_actors_may_do_nothing() -> None:
    anonymous = Actor(kind="anonymous", label="anonymous")
    assert not any(can(anonymous, action) for action in ACTIONS)


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="unknown action"):
        authorize(person("owner"), "workspace.explode")


def test_the_system_actor_may_do_anything() -> None:
    system = Actor(kind="system", label="cli")
    assert all(can(system, action) for action in ACTIONS)
