"""The differential harness's own logic, on canned outputs (no daemon needed)."""

from __future__ import annotations

from tests.integration.differential.allowed import ALLOWED, Difference, compare_extensions
from tests.integration.differential.harness import Group, Outcome, Scenario, Target, judge, normalise, step
from tests.integration.differential.known_bugs import KnownBug


class _Fake(Target):
    kind = "fake"
    suffix = "abc123"
    paths = ("/var/tmp/pincus-test-xyz",)


def test_normalise_masks_what_changes_and_keeps_what_must_match() -> None:
    text = ('"pid": 4242, "usage_peak": 0, "size": -1, "created_at": "2026-11-26T08:07:35.04Z"\n'
            '"expires_at": "2031-05-06T07:08:09Z", "last_used_at": "1970-01-01T00:00:00Z"\n'
            "| diff-c8-abc123 | 2026/11/26 08:04 UTC | 2031/05/06 07:08 UTC |\n"
            "uuid 51b19a3e-7d8c-4981-8f21-df6734db3e9e in /var/tmp/pincus-test-xyz/x\n")
    assert normalise(text, _Fake()) == (
        '"pid": N, "usage_peak": 0, "size": -1, "created_at": "<TIME>"\n'
        '"expires_at": "2031-05-06T07:08:09Z", "last_used_at": "1970-01-01T00:00:00Z"\n'
        "| diff-c8-SUFFIX | <DATE> | 2031/05/06 07:08 UTC |\n"
        "uuid <UUID> in <DIR>/x\n")


def test_json_is_reindented_in_its_own_key_order() -> None:
    assert normalise('{"b":1,"a":[0]}', _Fake()) == '{\n  "b": 1,\n  "a": [\n    0\n  ]\n}\n'


SC = Scenario("s", (Group("g", (step("info", "x"),)),))
EXTRA = Difference("extra-line", r"^info", "test", pincus=((r"^extra\n", ""),))


def _judge(a: str, b: str, bugs: tuple[KnownBug, ...] = ()) -> str:
    res = judge(SC, [[Outcome(0, a, "")]], [[Outcome(0, b, "")]], allowed=(EXTRA,), bugs=bugs)
    return res[0].state


def test_an_allowed_difference_does_not_hide_another_one() -> None:
    assert _judge("x\n", "x\n") == "same"
    assert _judge("x\n", "x\nextra\n") == "allowed"
    assert _judge("x\n", "y\nextra\n") == "DIFF"


def test_known_bugs_count_only_in_their_groups() -> None:
    bug = KnownBug("y-for-x", r".", "test", incus=((r"^x$", "y"),), groups=("s/g",))
    elsewhere = KnownBug("y-for-x", r".", "test", incus=((r"^x$", "y"),), groups=("s/other",))
    assert _judge("x\n", "y\nextra\n", (bug,)) == "bug"
    assert _judge("x\n", "y\nextra\n", (elsewhere,)) == "DIFF"


def test_extensions_pincusd_invents_are_not_allowed() -> None:
    incus = "api_extensions:\n- a\n- b\n"
    assert len(set(compare_extensions(incus, "api_extensions:\n- b\n- snapshot_manual_expiry\n"))) == 1
    assert len(set(compare_extensions(incus, "api_extensions:\n- b\n- made_up\n"))) == 2


def test_every_allowed_difference_has_a_reason() -> None:
    assert all(len(a.reason) > 40 for a in ALLOWED)
    assert len({a.key for a in ALLOWED}) == len(ALLOWED)
